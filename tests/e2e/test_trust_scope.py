"""The scope of RESPAN_CA_FILE (issue 12): it is trusted for the router's
sessions only. A program that verifies with its own store and talks to the
router by name gets the CA file for that session, and its other sessions on
the same SSL context (here a Python SSLContext shared by every connection)
still do not trust it (hooks/routertrust.c, the borrowed store)."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from standin.certs import make_named_cert
from standin.helpers import read_log, run
from test_gnutls_clients import gnutls_client  # noqa: F401 (a fixture)

OTHER = "other.test"

# One SSLContext with the system's CAs only (not the test CA), used for the
# router, for another server whose certificate the test CA signed, and for
# the router again.
PY_SHARED_CONTEXT = r"""
import http.client, os, socket, ssl, sys
router_host, router_port, other_port, order = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context()
def router():
    c = http.client.HTTPSConnection(router_host, router_port, context=ctx)
    c.request("POST", "/api/chat/completions", '{"model": "m", "messages": []}',
              {"Authorization": "Bearer " + os.environ["RESPAN_API_KEY"],
               "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return str(r.status)
def other():
    s = socket.create_connection(("127.0.0.1", other_port))
    try:
        ctx.wrap_socket(s, server_hostname="other.test").close()
        return "trusted"
    except ssl.SSLCertVerificationError:
        return "refused"
    finally:
        s.close()
print(" ".join(router() if step == "r" else other() for step in order))
"""


@pytest.fixture
def other_server(pki):
    """A TLS server on loopback for other.test, its certificate signed by
    the test CA (RESPAN_CA_FILE): trusted only by who trusts that CA."""
    cert, key = make_named_cert(pki, "other", (OTHER,))
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(5)
            try:
                sctx.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield lsock.getsockname()[1]
    stop.set()
    t.join()
    lsock.close()


@pytest.mark.parametrize("order", ["ror", "orr"])
def test_ca_file_trusted_for_the_router_session_only(order, respan_env, router, other_server,
                                                     tmp_path):
    """Router, other server, router again (and the other first): the router
    is verified with the program's store plus RESPAN_CA_FILE and answers;
    the other server, signed by the same CA, is refused on the same
    context however many router sessions came before."""
    script = tmp_path / "shared.py"
    script.write_text(PY_SHARED_CONTEXT)
    proc = run(["/usr/bin/python3", script, "localhost", str(router.port), str(other_server),
                order], env=respan_env, check=True)
    want = {"r": "200", "o": "refused"}
    assert proc.stdout.decode().split() == [want[c] for c in order], proc.stderr
    assert len(router.requests()) == 2
    assert len(read_log(respan_env["RESPAN_LOG"], type="response")) == 2


def test_without_the_library_the_router_is_not_trusted(respan_env, router, other_server,
                                                       tmp_path):
    """The check above can fail: without the library the program's store
    alone refuses the router (the test CA is in no system store)."""
    del respan_env["LD_PRELOAD"]
    script = tmp_path / "shared.py"
    script.write_text(PY_SHARED_CONTEXT.replace(
        "print(", "try:\n    router()\nexcept ssl.SSLCertVerificationError:\n"
        "    print('router refused')\n    sys.exit(0)\nprint("))
    proc = run(["/usr/bin/python3", script, "localhost", str(router.port), str(other_server),
                "o"], env=respan_env, check=True)
    assert proc.stdout.decode().split() == ["router", "refused"], proc.stdout


def test_gnutls_credentials_not_widened(respan_env, router, other_server, gnutls_client,
                                        tmp_path):
    """The same with GnuTLS: a program whose credentials hold the system CAs
    talks to the router by name (the router's session gets the router's
    credentials, the CA file among them), then to the other server on the
    same credentials: refused."""
    body = '{"model": "m", "messages": []}'
    request = tmp_path / "request.http"
    request.write_text(f"POST /api/chat/completions HTTP/1.1\r\nHost: localhost:{router.port}\r\n"
                       f"Authorization: Bearer {respan_env['RESPAN_API_KEY']}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                       f"Connection: close\r\n\r\n{body}")
    proc = run([gnutls_client, "-O", str(other_server), f"localhost:{router.port}", request],
               env=respan_env)
    assert proc.returncode == 0 and b"HTTP/1.1 200" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith(b"other: refused"), proc.stdout[-200:]
    assert len(router.requests()) == 1
