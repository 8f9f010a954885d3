"""Faults, end to end through the preloaded library with real clients
(issue 12): a program killed mid-stream, and a program that closes every
descriptor it did not open itself."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from standin.helpers import assert_no_secrets, make_secret, read_log, run

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


def test_setuid_program_is_untouched(respan_env, router, client_bin, tmp_path):
    """A setuid-root copy of a test client, run by an ordinary user with the
    library in LD_PRELOAD: secure execution, so the library does nothing.
    The call is not routed (the provider's name does not resolve here, so
    the client fails as it would without the library) and no log is made,
    though the user could write one."""
    import os
    import shutil
    import tempfile
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root (to make a setuid-root copy) and setpriv")
    key = make_secret("sk-proj-")
    top = Path(tempfile.mkdtemp(prefix="respan-suid-"))
    try:
        top.chmod(0o755)
        prog = top / "suid_client"
        shutil.copy(client_bin("ossl_client"), prog)
        prog.chmod(0o4755)
        lib = top / "librespan.so"
        shutil.copy(respan_env["LD_PRELOAD"], lib)
        lib.chmod(0o755)
        ca = top / "ca.pem"
        shutil.copy(respan_env["RESPAN_CA_FILE"], ca)
        ca.chmod(0o644)
        logdir = top / "log"
        logdir.mkdir()
        logdir.chmod(0o777)
        request = top / "request.http"
        body = '{"model": "m", "messages": []}'
        request.write_text("POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                           f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}")
        request.chmod(0o644)
        env = dict(respan_env, LD_PRELOAD=str(lib), RESPAN_CA_FILE=str(ca),
                   RESPAN_LOG=str(logdir / "traffic.jsonl"), HOME=str(top))
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                str(prog), "api.openai.com", str(request)]
        proc = run(argv, env=env)
        logged_setuid = (logdir / "traffic.jsonl").exists()
        # The same program, not setuid, is routed: the library would act.
        prog.chmod(0o755)
        routed = run(argv, env=env)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert not logged_setuid
    assert routed.returncode == 0 and b"Hello from the stand-in router" in routed.stdout, \
        routed.stdout + routed.stderr
    assert len(router.requests()) == 1      # the second run's only
