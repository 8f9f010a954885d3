"""The relay the library starts by itself (layer 6, docs/relay.md).

Node (nodesource's, TLS compiled in) is the program whose TLS the library
cannot see. Under plain LD_PRELOAD its base URLs name the relay by a stand-in
address (RESPAN_RELAY); the first connection to it starts `respan
relay-serve`, which routes and logs the exchange (layer "relay"). The
relay serves the whole process tree, and stops once no process of it is
left, however they ended. A program that never calls starts nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from standin.helpers import assert_no_secrets, read_log, relay_processes, run
from standin.router import ASSISTANT_TEXT

NODE = shutil.which("node", path="/usr/bin:/usr/local/bin")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# One chat call to OPENAI_BASE_URL with OPENAI_API_KEY, as an SDK makes it;
# "wait": then say so and wait for stdin to close; "child": one more call
# from a child node process first.
CLIENT = r"""
const {spawnSync} = require('node:child_process');
async function call(who) {
  const r = await fetch(process.env.OPENAI_BASE_URL + 'chat/completions', {
    method: 'POST',
    headers: {'Content-Type': 'application/json',
              'Authorization': 'Bearer ' + process.env.OPENAI_API_KEY},
    body: JSON.stringify({model: 'gpt-4o-mini', messages: [{role: 'user', content: who}]}),
  });
  const j = await r.json();
  console.log(JSON.stringify({who, status: r.status, text: j.choices[0].message.content}));
}
(async () => {
  const mode = process.argv[2] || '';
  if (mode === 'child') {
    const c = spawnSync(process.execPath, [__filename], {stdio: 'inherit'});
    if (c.status !== 0) process.exit(4);
  }
  await call(mode || 'plain');
  if (mode === 'wait') {
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  }
})().catch(e => { console.error('error', e.cause || e); process.exit(3); });
"""


@pytest.fixture
def client(tmp_path) -> Path:
    script = tmp_path / "client.js"
    script.write_text(CLIENT)
    return script


def answers(stdout: bytes) -> list:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]


def relay_records(env: dict) -> list:
    """[(request, response)] of the relay's records in ENV's log."""
    log = read_log(env["RESPAN_LOG"])
    responses = {r["id"]: r for r in log if r["type"] == "response"}
    return [(r, responses.get(r["id"])) for r in log
            if r["type"] == "request" and r.get("layer") == "relay"]


def check_exchange(rq: dict, rs: dict) -> None:
    assert rq["routed"] is True and rq["provider"] == "openai"
    assert Path(rq["exe"]).name.startswith("node"), rq["exe"]
    assert rs is not None and rs["status"] == 200 and rs.get("error") is None
    assert rs["output_text"] == ASSISTANT_TEXT


def test_first_call_starts_the_relay_and_exit_ends_it(client, router, respan_env):
    done = run([NODE, client], env=respan_env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [a["status"] for a in answers(done.stdout)] == [200]
    [req] = router.requests()
    assert req.header("authorization") == f"Bearer {respan_env['RESPAN_API_KEY']}"
    [(rq, rs)] = relay_records(respan_env)
    check_exchange(rq, rs)
    assert relay_processes(respan_env) == []
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"])


def start_waiting(client, env) -> subprocess.Popen:
    """The client after its call, waiting on stdin: the relay is up then."""
    p = subprocess.Popen([NODE, client, "wait"], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline()
    assert json.loads(line)["status"] == 200, (line, p.stderr.read1(4096) if p.poll() else b"")
    return p


def test_relay_lives_while_the_program_does(client, router, respan_env):
    p = start_waiting(client, respan_env)
    try:
        time.sleep(1.5)         # longer than the relay's idle time
        relays = relay_processes(respan_env, wait=0)
        assert len(relays) == 1, relays
        # A second call from the same process uses it (no new relay).
        [(rq, rs)] = relay_records(respan_env)
        check_exchange(rq, rs)
        assert rq["pid"] == relays[0]
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert relay_processes(respan_env) == []


def test_relay_gone_after_sigkill(client, router, respan_env):
    """SIGKILL: the kernel closes the program's lease, and the relay goes."""
    p = start_waiting(client, respan_env)
    assert len(relay_processes(respan_env, wait=0)) == 1
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert relay_processes(respan_env) == []
    [(rq, rs)] = relay_records(respan_env)
    check_exchange(rq, rs)


def test_children_share_one_relay(client, router, respan_env):
    done = run([NODE, client, "child"], env=respan_env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(a["who"] for a in answers(done.stdout)) == ["child", "plain"]
    records = relay_records(respan_env)
    assert len(records) == 2, read_log(respan_env["RESPAN_LOG"])
    for rq, rs in records:
        check_exchange(rq, rs)
    assert len({rq["pid"] for rq, _ in records}) == 1      # one relay served both
    assert len(router.requests()) == 2
    assert relay_processes(respan_env) == []


@pytest.mark.parametrize("argv", [["/bin/true"], [NODE or "node", "-e", "0"]],
                         ids=["true", "node"])
def test_a_program_that_never_calls_starts_nothing(argv, respan_env):
    done = run(argv, env=respan_env)
    assert done.returncode == 0, done.stderr
    # A relay, had one started, would outlive the program by a second at least.
    assert relay_processes(respan_env, wait=0) == []
    assert read_log(respan_env["RESPAN_LOG"]) == []


def stand_in_socket(env: dict) -> str:
    """The rendezvous name of the tree a client with ENV starts."""
    out = run(["/usr/bin/env"], env=env, check=True).stdout.decode()
    relay = next(l.split("=", 1)[1] for l in out.splitlines() if l.startswith("RESPAN_RELAY="))
    hostport = relay.split("//", 1)[1].split("/", 1)[0].replace(":", "-")
    return f"respan-relay-{os.geteuid()}-{hostport}"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_rendezvous_refuses_another_user(client, router, respan_env):
    """Any user can connect to an abstract socket: the relay tells the port
    to its own user's processes only."""
    name = stand_in_socket(respan_env)
    relay = name.split("-", 3)[3].rsplit("-", 1)
    respan_env["RESPAN_RELAY"] = f"http://{relay[0]}:{relay[1]}/api/"
    p = start_waiting(client, respan_env)
    try:
        probe = ("import socket,sys; s=socket.socket(socket.AF_UNIX);"
                 "s.connect('\\0'+sys.argv[1]); s.settimeout(5); print(repr(s.recv(64)))")
        mine = subprocess.run(["/usr/bin/python3", "-c", probe, name], capture_output=True,
                              timeout=30)
        theirs = subprocess.run(["/usr/bin/python3", "-c", probe, name], capture_output=True,
                                timeout=30, preexec_fn=lambda: os.setuid(65534))
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert mine.stdout.strip().startswith(b"b'") and mine.stdout.strip() != b"b''", mine
    assert theirs.stdout.strip() == b"b''", theirs


def test_relay_that_cannot_start_is_an_event(client, router, respan_env, tmp_path):
    """No usable RESPAN_CA_FILE for the router: the relay does not start, the
    call fails as a refused connection would, and the log says why."""
    respan_env["RESPAN_CA_FILE"] = str(tmp_path / "missing.pem")
    done = run([NODE, client], env=respan_env, timeout=60)
    assert done.returncode == 3, done.stderr
    events = [e["event"] for e in read_log(respan_env["RESPAN_LOG"], type="event")]
    assert "relay_error" in events, events
    assert router.requests() == []
    assert relay_processes(respan_env) == []
