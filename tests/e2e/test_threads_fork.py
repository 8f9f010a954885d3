"""Threads and fork under the library (issue 3: "threads and fork are safe"),
with Python's http.client over libssl calling api.openai.com."""

from __future__ import annotations

import collections

import pytest

from standin.helpers import assert_no_secrets, make_secret, read_log, run

THREADS_CLIENT = r"""
import http.client, json, ssl, sys, threading
N_THREADS, PER = int(sys.argv[1]), int(sys.argv[2])
errors = []
CTX = ssl.create_default_context()   # one for all (loading the system CAs costs ~40 ms)
def worker(i):
    try:
        c = http.client.HTTPSConnection("api.openai.com", context=CTX)
        for j in range(PER):
            body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"t{i}-{j}"}]})
            c.request("POST", "/v1/chat/completions", body,
                      {"Authorization": "Bearer " + sys.argv[3], "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            assert r.status == 200 and b"Hello from the stand-in router" in data, data[:200]
        c.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=worker, args=(i,)) for i in range(N_THREADS)]
[t.start() for t in ts]
[t.join() for t in ts]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"""

FORK_CLIENT = r"""
import http.client, json, os, ssl, sys
key = sys.argv[1]
def conn():
    return http.client.HTTPSConnection("api.anthropic.com", context=ssl.create_default_context())
hdrs = {"x-api-key": key, "anthropic-version": "2023-06-01",
        "content-type": "application/json", "X-Standin-Delay-Ms": "50"}
body = json.dumps({"model": "claude-x", "max_tokens": 5, "stream": True,
                   "messages": [{"role": "user", "content": "hi"}]})
c = conn()
c.request("POST", "/v1/messages", body, hdrs)
r = c.getresponse()
first = r.readline()            # the stream has begun: its exchange is open
pid = os.fork()
if pid == 0:                    # the child makes a call of its own, then exits normally
    c2 = conn()
    c2.request("POST", "/v1/messages", body.replace('"stream": true', '"stream": false'), hdrs)
    assert c2.getresponse().status == 200
    sys.exit(0)
_, status = os.waitpid(pid, 0)
rest = r.read()                 # the parent finishes its stream after the child is gone
assert b"message_stop" in rest, rest[-200:]
print(os.getpid(), pid, status)
sys.exit(0 if status == 0 else 1)
"""


@pytest.mark.parametrize("n_threads,per", [(16, 4), (64, 50), (1000, 1)])
def test_many_threads(n_threads, per, respan_env, router, tmp_path):
    """16 keep-alive connections of 4 calls; 64 of 50 (3,200 exchanges in
    one process); a thousand threads at once, each with its own
    connection: every call routed, every exchange logged exactly once,
    request and response paired, every record whole."""
    script = tmp_path / "threads.py"
    script.write_text(THREADS_CLIENT)
    provider_key = make_secret("sk-proj-")
    run(["/usr/bin/python3", script, n_threads, per, provider_key], env=respan_env,
        check=True, timeout=300)
    got = router.requests()
    assert len(got) == n_threads * per
    assert {r.header("authorization") for r in got} == {"Bearer " + respan_env["RESPAN_API_KEY"]}
    assert len({r.conn for r in got}) == n_threads
    reqs = read_log(respan_env["RESPAN_LOG"], type="request")
    resps = read_log(respan_env["RESPAN_LOG"], type="response")
    assert len(reqs) == len(resps) == n_threads * per
    assert len({r["id"] for r in reqs}) == n_threads * per
    assert {r["id"] for r in reqs} == {r["id"] for r in resps}
    assert all(r["error"] is None and r["output_text"] == "Hello from the stand-in router"
               for r in resps)
    # Every body the program sent is in exactly one record.
    contents = sorted(r["body"].split('"content": "')[1].split('"')[0] for r in reqs)
    assert contents == sorted(f"t{i}-{j}" for i in range(n_threads) for j in range(per))
    assert_no_secrets(respan_env["RESPAN_LOG"], provider_key, respan_env["RESPAN_API_KEY"])


def test_fork_with_an_open_stream(respan_env, router, tmp_path):
    script = tmp_path / "fork.py"
    script.write_text(FORK_CLIENT)
    provider_key = make_secret("sk-ant-")
    proc = run(["/usr/bin/python3", script, provider_key], env=respan_env, check=True)
    parent, child, _ = (int(x) for x in proc.stdout.split())
    assert len(router.requests()) == 2
    reqs = read_log(respan_env["RESPAN_LOG"], type="request")
    resps = read_log(respan_env["RESPAN_LOG"], type="response")
    assert sorted(r["pid"] for r in reqs) == sorted([parent, child])
    # One response per request: the child's exit did not end the parent's stream.
    per_id = collections.Counter(r["id"] for r in resps)
    assert per_id == collections.Counter(r["id"] for r in reqs)
    by_pid = {r["pid"]: r for r in resps}
    assert by_pid[parent]["sse"] is True and by_pid[parent]["error"] is None
    assert by_pid[parent]["output_text"] == "Hello from the stand-in router"
    assert by_pid[child]["error"] is None
    assert_no_secrets(respan_env["RESPAN_LOG"], provider_key, respan_env["RESPAN_API_KEY"])


def test_many_processes_one_log(respan_env, router, tmp_path):
    """16 processes of 20 calls each, all at once, into one log file: every
    exchange is there exactly once, request and response paired, each with
    its own process's pid, and every line is whole JSON (one write() per
    record on an O_APPEND file)."""
    import subprocess
    script = tmp_path / "threads.py"
    script.write_text(THREADS_CLIENT)
    provider_key = make_secret("sk-proj-")
    procs = [subprocess.Popen(["/usr/bin/python3", str(script), "1", "20", provider_key],
                              env=respan_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(16)]
    pids = set()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode(errors="replace")[-2000:]
        pids.add(p.pid)
    assert len(router.requests()) == 16 * 20
    reqs = read_log(respan_env["RESPAN_LOG"], type="request")
    resps = read_log(respan_env["RESPAN_LOG"], type="response")
    assert len(reqs) == len(resps) == 16 * 20
    assert collections.Counter(r["id"] for r in reqs) == collections.Counter(
        r["id"] for r in resps)
    assert len({r["id"] for r in reqs}) == 16 * 20
    assert {r["pid"] for r in reqs} == pids
    assert collections.Counter(r["pid"] for r in reqs) == {pid: 20 for pid in pids}
    assert all(r["error"] is None and r["status"] == 200 for r in resps)
    assert_no_secrets(respan_env["RESPAN_LOG"], provider_key, respan_env["RESPAN_API_KEY"])

