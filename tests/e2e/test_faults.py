"""Faults, end to end through the preloaded library with real clients
(issue 12): a program killed mid-stream; one that closes every descriptor
it did not open itself; callers started by a shell or a spawner; a router
that resets, stalls or is down; a log on a full disk or in a directory the
user cannot write; a setuid program."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from standin.helpers import assert_no_secrets, make_secret, read_log, run

@pytest.fixture
def as_nobody(respan_env):
    """For a program run as nobody (setpriv): a 0755 directory (root's) with
    copies of the library and the test CA that nobody can read, and
    respan_env pointing at them. Skips unless root with setpriv."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root (to run a program as another user) and setpriv")
    top = Path(tempfile.mkdtemp(prefix="respan-nobody-"))
    top.chmod(0o755)
    lib, ca = top / "librespan.so", top / "ca.pem"
    shutil.copy(respan_env["LD_PRELOAD"], lib)
    shutil.copy(respan_env["RESPAN_CA_FILE"], ca)
    lib.chmod(0o755)
    ca.chmod(0o644)
    respan_env.update(LD_PRELOAD=str(lib), RESPAN_CA_FILE=str(ca), HOME=str(top))
    yield top
    shutil.rmtree(top, ignore_errors=True)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


# A slow stream (200 ms between events): killed after its first event.
SLOW_STREAM = '{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'

PY_STREAM = r"""
import http.client, ssl, sys
c = http.client.HTTPSConnection("api.openai.com", context=ssl.create_default_context())
c.request("POST", "/v1/chat/completions", sys.argv[2],
          {"Authorization": "Bearer " + sys.argv[1], "Content-Type": "application/json",
           "X-Standin-Delay-Ms": "200"})
r = c.getresponse()
print(r.status, flush=True)
print(r.readline().decode().strip(), flush=True)
r.read()
"""


def _killed_mid_stream(argv, env):
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        got = proc.stdout.readline()       # the stream has begun
        assert got, proc.stderr.read()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("client", ["curl", "python"])
def test_sigkill_mid_stream_keeps_the_request(client, respan_env, router, tmp_path):
    """SIGKILL while the answer streams in: nothing of the library runs any
    more, and the request record, written when the request went out, is in
    the log (routed, its body whole); no key."""
    key = make_secret("sk-proj-")
    if client == "curl":
        argv = ["curl", "-sS", "-N", "--http1.1", "https://api.openai.com/v1/chat/completions",
                "-H", "Authorization: Bearer " + key, "-H", "Content-Type: application/json",
                "-H", "X-Standin-Delay-Ms: 200", "-d", SLOW_STREAM]
    else:
        script = tmp_path / "stream.py"
        script.write_text(PY_STREAM)
        argv = ["/usr/bin/python3", str(script), key, SLOW_STREAM]
    _killed_mid_stream(argv, respan_env)
    [req] = router.requests()
    assert req.header("authorization") == "Bearer " + respan_env["RESPAN_API_KEY"]
    [rec] = read_log(respan_env["RESPAN_LOG"], type="request")
    assert rec["routed"] is True and rec["provider"] == "openai"
    assert rec["url"] == "https://api.openai.com/v1/chat/completions"
    assert rec["body"] == SLOW_STREAM and rec["body_truncated"] is False
    assert_no_secrets(respan_env["RESPAN_LOG"], key, respan_env["RESPAN_API_KEY"])


PY_CLOSE_RANGE = r"""
import ctypes, http.client, os, ssl, sys
def call(n):
    c = http.client.HTTPSConnection("api.openai.com", context=ssl.create_default_context())
    c.request("POST", "/v1/chat/completions", '{"model": "m", "messages": [], "n": %d}' % n,
              {"Authorization": "Bearer " + sys.argv[1], "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status
first = call(1)
libc = ctypes.CDLL(None, use_errno=True)
assert libc.close_range(3, 0xFFFFFFFF, 0) == 0, ctypes.get_errno()
# The program's own file now holds every number the log could have had.
mine = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
for fd in range(100, 116):
    os.dup2(mine, fd)
second = call(2)
print(first, second)
"""


def test_close_range_then_call(respan_env, router, tmp_path):
    """The program closes every descriptor from 3 up (close_range), then
    gives the numbers to a file of its own, then calls: the call is routed
    and logged, and not one record lands in the program's file."""
    key = make_secret("sk-proj-")
    script = tmp_path / "close_range.py"
    script.write_text(PY_CLOSE_RANGE)
    mine = tmp_path / "mine.txt"
    proc = run(["/usr/bin/python3", script, key, mine], env=respan_env, check=True)
    assert proc.stdout.split() == [b"200", b"200"]
    assert len(router.requests()) == 2
    reqs = read_log(respan_env["RESPAN_LOG"], type="request")
    resps = read_log(respan_env["RESPAN_LOG"], type="response")
    assert [r["body"].split('"n": ')[1].rstrip("}") for r in reqs] == ["1", "2"]
    assert sorted(r["id"] for r in reqs) == sorted(r["id"] for r in resps)
    assert mine.read_bytes() == b""
    assert_no_secrets(respan_env["RESPAN_LOG"], key, respan_env["RESPAN_API_KEY"])


PY_ONE_CALL = r"""
import http.client, os, ssl, sys
c = http.client.HTTPSConnection("api.openai.com", context=ssl.create_default_context())
c.request("POST", "/v1/chat/completions", '{"model": "m", "messages": []}',
          {"Authorization": "Bearer " + sys.argv[1], "Content-Type": "application/json"})
r = c.getresponse()
r.read()
print(os.getpid(), r.status)
"""

PY_SPAWNS = r"""
import subprocess, sys
done = subprocess.run([sys.executable] + sys.argv[1:], capture_output=True, check=True)
sys.stdout.write(done.stdout.decode())
"""


@pytest.mark.parametrize("how", ["sh -c", "python subprocess", "exec"])
def test_a_child_that_calls_is_routed(how, respan_env, router, tmp_path):
    """The traced program does not call itself: a shell runs the caller, a
    Python program spawns it, or a shell execs it. The caller inherits the
    library with its environment and is routed and logged, with its own
    pid."""
    key = make_secret("sk-proj-")
    caller = tmp_path / "call.py"
    caller.write_text(PY_ONE_CALL)
    if how == "sh -c":
        argv = ["/bin/sh", "-c", f"/usr/bin/python3 {caller} {key}; true"]
    elif how == "exec":
        argv = ["/bin/sh", "-c", f"exec /usr/bin/python3 {caller} {key}"]
    else:
        spawner = tmp_path / "spawn.py"
        spawner.write_text(PY_SPAWNS)
        argv = ["/usr/bin/python3", spawner, caller, key]
    proc = run(argv, env=respan_env, check=True)
    pid, status = proc.stdout.split()
    assert status == b"200"
    [req] = router.requests()
    assert req.header("authorization") == "Bearer " + respan_env["RESPAN_API_KEY"]
    [rec] = read_log(respan_env["RESPAN_LOG"], type="request")
    assert rec["routed"] is True and rec["pid"] == int(pid)
    assert len(read_log(respan_env["RESPAN_LOG"], type="response")) == 1
    assert_no_secrets(respan_env["RESPAN_LOG"], key, respan_env["RESPAN_API_KEY"])


def test_log_file_0600_in_directories_made_0700(respan_env, router, tmp_path):
    """A log whose directories do not exist: made 0700 by the first record,
    the file 0600, whatever the program's umask."""
    key = make_secret("sk-proj-")
    caller = tmp_path / "call.py"
    caller.write_text(PY_ONE_CALL)
    log = tmp_path / "state" / "deep" / "traffic.jsonl"
    respan_env["RESPAN_LOG"] = str(log)
    run(["/bin/sh", "-c", f"umask 000; exec /usr/bin/python3 {caller} {key}"],
        env=respan_env, check=True)
    assert log.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state" / "deep").stat().st_mode & 0o777 == 0o700
    assert len(read_log(log, type="request")) == 1


PY_RESET = r"""
import http.client, ssl, sys
c = http.client.HTTPSConnection("api.openai.com", context=ssl.create_default_context())
c.request("POST", "/v1/chat/completions", sys.argv[2],
          {"Authorization": "Bearer " + sys.argv[1], "Content-Type": "application/json",
           "X-Standin-Reset": "2", "X-Standin-Delay-Ms": "200"})
r = c.getresponse()
try:
    r.read()
except (ConnectionResetError, http.client.IncompleteRead) as e:
    print("error", type(e).__name__)
    sys.exit(3)
print("no error")
"""


@pytest.mark.parametrize("client", ["curl", "python"])
def test_router_resets_mid_response(client, respan_env, router, tmp_path):
    """The router resets the connection (TCP RST) after two events, 200 ms
    apart (so the head is read before the reset can discard it): the
    program sees an ordinary network error, and the log has the request and
    a response record that says it was cut short."""
    key = make_secret("sk-proj-")
    if client == "curl":
        proc = run(["curl", "-sS", "-N", "--http1.1",
                    "https://api.openai.com/v1/chat/completions",
                    "-H", "Authorization: Bearer " + key, "-H", "Content-Type: application/json",
                    "-H", "X-Standin-Reset: 2", "-H", "X-Standin-Delay-Ms: 200",
                    "-d", SLOW_STREAM], env=respan_env)
        assert proc.returncode == 56 and b"reset" in proc.stderr, proc.stderr  # ECONNRESET
    else:
        script = tmp_path / "reset.py"
        script.write_text(PY_RESET)
        proc = run(["/usr/bin/python3", script, key, SLOW_STREAM], env=respan_env)
        assert proc.returncode == 3, proc.stdout + proc.stderr
    assert len(router.requests()) == 1
    [req] = read_log(respan_env["RESPAN_LOG"], type="request")
    [resp] = read_log(respan_env["RESPAN_LOG"], type="response")
    assert req["routed"] is True and resp["id"] == req["id"]
    assert resp["status"] == 200 and resp["sse"] is True
    assert resp["error"] and "before the response was complete" in resp["error"], resp["error"]
    assert_no_secrets(respan_env["RESPAN_LOG"], key, respan_env["RESPAN_API_KEY"])


@pytest.mark.parametrize("client", ["curl", "python"])
def test_router_stalls_past_the_clients_timeout(client, respan_env, router, tmp_path):
    """The router answers, then stalls 2 s between events; the client gives
    up after half a second: an ordinary timeout for the program, and the log has the
    request and a response record that says why it ended."""
    key = make_secret("sk-proj-")
    if client == "curl":
        proc = run(["curl", "-sS", "-N", "--http1.1", "-m", "0.5",
                    "https://api.openai.com/v1/chat/completions",
                    "-H", "Authorization: Bearer " + key, "-H", "Content-Type: application/json",
                    "-H", "X-Standin-Delay-Ms: 2000", "-d", SLOW_STREAM], env=respan_env)
        assert proc.returncode == 28, proc.stderr          # operation timed out
    else:
        script = tmp_path / "stall.py"
        script.write_text(PY_STREAM.replace('"200"', '"2000"').replace(
            "context=ssl.create_default_context())",
            "context=ssl.create_default_context(), timeout=0.5)"))
        proc = run(["/usr/bin/python3", script, key, SLOW_STREAM], env=respan_env)
        assert proc.returncode == 1 and b"timed out" in proc.stderr, proc.stderr
    [req] = read_log(respan_env["RESPAN_LOG"], type="request")
    [resp] = read_log(respan_env["RESPAN_LOG"], type="response")
    assert req["routed"] is True and resp["id"] == req["id"] and resp["status"] == 200
    assert resp["error"], resp
    assert_no_secrets(respan_env["RESPAN_LOG"], key, respan_env["RESPAN_API_KEY"])


def test_setuid_program_is_untouched(respan_env, router, client_bin, as_nobody):
    """A setuid-root copy of a test client, run by an ordinary user with the
    library in LD_PRELOAD: secure execution, so the library does nothing.
    The call is not routed (the provider's name does not resolve here, so
    the client fails as it would without the library) and no log is made,
    though the user could write one."""
    key = make_secret("sk-proj-")
    top = as_nobody
    prog = top / "suid_client"
    shutil.copy(client_bin("ossl_client"), prog)
    prog.chmod(0o4755)
    logdir = top / "log"
    logdir.mkdir()
    logdir.chmod(0o777)
    request = top / "request.http"
    body = '{"model": "m", "messages": []}'
    request.write_text("POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                       f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}")
    request.chmod(0o644)
    respan_env["RESPAN_LOG"] = str(logdir / "traffic.jsonl")
    argv = NOBODY + [str(prog), "api.openai.com", str(request)]
    proc = run(argv, env=respan_env)
    logged_setuid = (logdir / "traffic.jsonl").exists()
    # The same program, not setuid, is routed: the library would act.
    prog.chmod(0o755)
    routed = run(argv, env=respan_env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert not logged_setuid
    assert routed.returncode == 0 and b"Hello from the stand-in router" in routed.stdout, \
        routed.stdout + routed.stderr
    assert len(router.requests()) == 1      # the second run's only


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PY_REFUSED = r"""
import http.client, ssl, sys
timeout = float(sys.argv[2]) if sys.argv[2] != "none" else None
c = http.client.HTTPSConnection("api.openai.com", context=ssl.create_default_context(),
                                timeout=timeout)
try:
    c.request("POST", "/v1/chat/completions", '{"model": "m", "messages": []}',
              {"Authorization": "Bearer " + sys.argv[1], "Content-Type": "application/json"})
except ConnectionRefusedError as e:
    print("refused", e.errno)
    sys.exit(3)
print("no error")
"""


@pytest.mark.parametrize("client", ["curl", "python blocking", "python non-blocking"])
def test_router_down(client, respan_env, router, tmp_path):
    """The router is down (nothing listens on its port): the program gets
    the ordinary "connection refused", from a blocking connect() or from
    getsockopt(SO_ERROR) after a non-blocking one (curl, Python with a
    timeout). No request was sent, so there is no exchange to log: the log
    has a router_unreachable event for the connection, and no key."""
    key = make_secret("sk-proj-")
    port = _closed_port()
    respan_env["RESPAN_BASE_URL"] = f"https://127.0.0.1:{port}/api/"
    if client == "curl":
        proc = run(["curl", "-sS", "--http1.1", "https://api.openai.com/v1/chat/completions",
                    "-H", "Authorization: Bearer " + key, "-d", "{}"], env=respan_env)
        assert proc.returncode == 7, proc.stderr       # couldn't connect
    else:
        script = tmp_path / "refused.py"
        script.write_text(PY_REFUSED)
        timeout = "none" if client == "python blocking" else "5"
        proc = run(["/usr/bin/python3", script, key, timeout], env=respan_env)
        assert proc.returncode == 3 and b"refused" in proc.stdout, proc.stdout + proc.stderr
    records = read_log(respan_env["RESPAN_LOG"])
    events = [r for r in records if r["type"] == "event"]
    assert events and all(e["event"] == "router_unreachable" for e in events), records
    assert all("Connection refused" in e["detail"] and str(port) in e["detail"]
               for e in events), events
    assert events[0]["host"] == "127.0.0.1"
    assert not [r for r in records if r["type"] != "event"]
    assert router.requests() == []
    assert_no_secrets(respan_env["RESPAN_LOG"], key, respan_env["RESPAN_API_KEY"])


PY_MANY_CALLS = r"""
import http.client, os, ssl, sys
n, filler = int(sys.argv[2]), sys.argv[3]
def call(i):
    c = http.client.HTTPSConnection("api.openai.com", context=ssl.create_default_context())
    c.request("POST", "/v1/chat/completions",
              '{"model": "m", "messages": [{"role": "user", "content": "%s"}], "i": %d}'
              % ("x" * 2000, i),
              {"Authorization": "Bearer " + sys.argv[1], "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status
statuses = [call(i) for i in range(n)]
os.unlink(filler)            # room again: the next records are written
statuses.append(call(n))
print(" ".join(map(str, statuses)))
"""


def test_log_on_a_full_disk(respan_env, router, tmp_path):
    """The log is on a 64 KiB tmpfs that fills up after a few records: the
    program's calls all succeed and are routed; stderr has one line for the
    lost records; once there is room again (the program frees it) the log
    says how many were lost, and every line but the one cut short is a
    whole record."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a tmpfs")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                       str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        filler = mnt / "filler"
        filler.write_bytes(b"f" * 40 * 1024)
        log = mnt / "traffic.jsonl"
        respan_env["RESPAN_LOG"] = str(log)
        key = make_secret("sk-proj-")
        script = tmp_path / "many.py"
        script.write_text(PY_MANY_CALLS)
        n = 12
        proc = run(["/usr/bin/python3", script, key, str(n), filler], env=respan_env,
                   check=True)
        raw = log.read_bytes()
    finally:
        subprocess.run(["umount", str(mnt)])
    assert proc.stdout.split() == [b"200"] * (n + 1)
    assert len(router.requests()) == n + 1
    assert all(r.header("authorization") == "Bearer " + respan_env["RESPAN_API_KEY"]
               for r in router.requests())
    lost_lines = [l for l in proc.stderr.decode().splitlines() if "records are being lost" in l]
    assert len(lost_lines) == 1 and "No space left on device" in lost_lines[0], proc.stderr
    good, bad = [], []
    for line in raw.split(b"\n")[:-1]:
        try:
            good.append(json.loads(line))
        except ValueError:
            bad.append(line)
    assert raw.endswith(b"\n") and len(bad) <= 1, bad
    assert all(b.startswith(b'{"type":') for b in bad)
    [lost] = [r for r in good if r.get("event") == "log_error"]
    assert "records were lost" in lost["detail"], lost
    # Every exchange before the disk filled, and the last, are whole.
    reqs = [r for r in good if r["type"] == "request"]
    assert 0 < len(reqs) < n + 1 and reqs[-1]["body"].endswith('"i": %d}' % n), reqs[-1]
    assert_no_secrets(log, key, respan_env["RESPAN_API_KEY"])


def test_log_in_a_directory_the_user_cannot_write(respan_env, router, as_nobody):
    """RESPAN_LOG in a directory the user may not write (run as nobody):
    one stderr line that says so, and the call still succeeds, routed."""
    key = make_secret("sk-proj-")
    shut = as_nobody / "shut"
    shut.mkdir(mode=0o755)              # root's; nobody cannot write it
    respan_env["RESPAN_LOG"] = str(shut / "logs" / "traffic.jsonl")
    proc = run(NOBODY + ["curl", "-sS", "--http1.1",
                         "https://api.openai.com/v1/chat/completions",
                         "-H", "Authorization: Bearer " + key, "-d", '{"model": "m"}'],
               env=respan_env)
    assert proc.returncode == 0 and b"Hello from the stand-in router" in proc.stdout, \
        proc.stdout + proc.stderr
    [req] = router.requests()
    assert req.header("authorization") == "Bearer " + respan_env["RESPAN_API_KEY"]
    lines = [l for l in proc.stderr.decode().splitlines() if l.startswith("respan:")]
    assert len(lines) == 1 and "RESPAN_LOG" in lines[0] and "Permission denied" in lines[0], \
        proc.stderr
    assert list(shut.iterdir()) == []
