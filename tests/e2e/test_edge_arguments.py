"""Every interposed function called with legal NULL and zero arguments, and
with bad pointers the kernel answers EFAULT for (edge_client.c): under
librespan, routing, the program gets exactly the answers it gets without
the library (return values and errno, line for line), and is not taken
down. Each bad-pointer write is the first write of a fresh connection, the
one the egress audit reads. In the sanitizer run the same calls go through
the ASan+UBSan build.

Then the ways a connection's first write can be made besides write() after
connect(): through a dup2()/dup3() copy of the fd, after a write that failed
with EFAULT, and by TCP Fast Open (sendto/sendmsg with MSG_FASTOPEN, which
connects as it writes): the audit sees each."""

from __future__ import annotations

import socket

import pytest

from standin.helpers import USERS_OWN_BASE_URL, read_log, run


def test_edge_arguments_answer_as_without_the_library(respan_env, client_bin):
    client = client_bin("edge_client")
    bare = run([client], env={k: v for k, v in respan_env.items() if k != "LD_PRELOAD"})
    assert bare.returncode == 0, bare.stderr
    lines = bare.stdout.decode().splitlines()
    assert lines[-1] == "done" and len(lines) > 30
    firsts = [x for x in lines if x.startswith("first write: ")]
    assert len(firsts) == 10 and all(x.endswith(" -1 Bad address") for x in firsts)
    with_lib = run([client], env=respan_env)
    assert with_lib.returncode == 0, with_lib.stderr
    assert with_lib.stdout.decode().splitlines() == lines
    assert with_lib.stderr == bare.stderr
    assert read_log(respan_env["RESPAN_LOG"]) == []


def test_provider_lookup_with_null_hints_and_no_service(respan_env, router, client_bin):
    """NULL hints and a NULL service are legal: the provider name still
    resolves to the router, with no port when none was asked for."""
    done = run([client_bin("edge_client"), "api.openai.com"], env=respan_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode().splitlines()
    assert out[0].startswith("getaddrinfo(api.openai.com, 443, NULL): 0 family ")
    assert out[1] == "getaddrinfo(api.openai.com, NULL, NULL): 0 port 0"


def test_short_ipv6_address_read_within_its_length(respan_env, router, client_bin):
    """connect() to a router address on 443 given as AF_INET6 with a length
    of 16 (the kernel wants 24): the library reads no byte past the length
    (the next page is unreadable) and the program gets the kernel's answer."""
    respan_env["RESPAN_BASE_URL"] = router.url_for("::1")  # an AF_INET6 router address
    done = run([client_bin("edge_client"), "--short6", "api.openai.com"], env=respan_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith(
        "connect(AF_INET6 port 443, 16 bytes at the end of a page): -1 "), done.stdout


def client_hello(host: str) -> bytes:
    """A minimal TLS ClientHello record with HOST as its SNI."""
    name = host.encode()
    entry = b"\x00" + len(name).to_bytes(2, "big") + name
    sni = b"\x00\x00" + (len(entry) + 2).to_bytes(2, "big") + \
        len(entry).to_bytes(2, "big") + entry
    body = (b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" +
            len(sni).to_bytes(2, "big") + sni)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


# The first bytes of a connection to the listener on PORT are HELLO (hex),
# sent in the way CASE names. Prints "sent", or "error" and the errno name.
AUDIT_CLIENT = r"""
import ctypes, errno, os, socket, sys
case, port, hello = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
addr = ("127.0.0.1", port)
try:
    if case in ("dup2", "dup3"):
        s = socket.create_connection(addr)
        os.dup2(s.fileno(), 100, inheritable=case == "dup2")  # False: dup3
        s.close()
        os.write(100, hello)
    elif case == "after EFAULT":
        s = socket.create_connection(addr)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.write.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
        if libc.write(s.fileno(), 8, 5) != -1 or ctypes.get_errno() != errno.EFAULT:
            sys.exit("write(8, 5): not EFAULT")
        s.send(hello)
    elif case == "sendto fast open":
        socket.socket().sendto(hello, socket.MSG_FASTOPEN, addr)
    elif case == "sendmsg fast open":
        socket.socket().sendmsg([hello], [], socket.MSG_FASTOPEN, addr)
    elif case == "fast open to 443":
        # A router address (a provider name resolved with no port) on 443;
        # the resolver routes names only for a program with libssl loaded.
        import ssl
        ip = socket.getaddrinfo("api.openai.com", None, socket.AF_INET)[0][4][0]
        socket.socket().sendto(hello, socket.MSG_FASTOPEN, (ip, 443))
    print("sent")
except OSError as e:
    print("error", errno.errorcode.get(e.errno, e.errno))
"""

FIRST_WRITES = ["dup2", "dup3", "after EFAULT", "sendto fast open", "sendmsg fast open"]


def tcp_fast_open_client() -> bool:
    try:
        with open("/proc/sys/net/ipv4/tcp_fastopen") as f:
            return int(f.read()) & 1 == 1
    except OSError:
        return False


@pytest.mark.parametrize("fail", ["open", "closed", "keyed"])
@pytest.mark.parametrize("case", FIRST_WRITES)
def test_first_write_audited_however_made(case, fail, respan_env, tmp_path):
    """A ClientHello for a provider as a connection's first bytes: bypass
    under RESPAN_FAIL=open (and the bytes go out), refused with ECONNRESET
    under closed, whichever way the first write was made. "keyed": layer 1
    put the Respan key into OPENAI_API_KEY, so it is refused under open too."""
    if "fast open" in case and fail == "open" and not tcp_fast_open_client():
        pytest.skip("TCP Fast Open is off for clients (net.ipv4.tcp_fastopen)")
    respan_env["RESPAN_FAIL"] = "open" if fail == "keyed" else fail
    if fail != "keyed":
        respan_env.update(USERS_OWN_BASE_URL["openai"])
    script = tmp_path / "first_write.py"
    script.write_text(AUDIT_CLIENT)
    hello = client_hello("api.openai.com")
    with socket.create_server(("127.0.0.1", 0)) as srv:
        srv.settimeout(10)
        proc = run(["/usr/bin/python3", script, case, srv.getsockname()[1], hello.hex()],
                   env=respan_env)
        assert proc.returncode == 0, proc.stderr
        events = {e["event"]: e for e in read_log(respan_env["RESPAN_LOG"], type="event")}
        if fail == "open":
            assert proc.stdout == b"sent\n"
            assert events["bypass"]["host"] == "api.openai.com"
            assert "blocked" not in events
            conn, _ = srv.accept()
            with conn:
                got = b""
                while len(got) < len(hello) and (chunk := conn.recv(65536)):
                    got += chunk
            assert got == hello
        else:
            assert proc.stdout == b"error ECONNRESET\n"
            assert events["blocked"]["host"] == "api.openai.com"
            assert "bypass" not in events


def test_fast_open_to_a_router_address_goes_to_the_router_port(respan_env, router, tmp_path):
    """TCP Fast Open to a router address on 443 is a connect() the library
    never saw: it is sent on to the router's port, as connect() would be."""
    if not tcp_fast_open_client():
        pytest.skip("TCP Fast Open is off for clients (net.ipv4.tcp_fastopen)")
    script = tmp_path / "first_write.py"
    script.write_text(AUDIT_CLIENT)
    proc = run(["/usr/bin/python3", script, "fast open to 443", 443, b"hello".hex()],
               env=respan_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"sent\n"
    assert read_log(respan_env["RESPAN_LOG"], type="event") == []
