"""respan replay (issue 13): record under `respan run --record`, then run the
same program again with its LLM requests answered from the log, with the
router out of reach; misses fail clearly or, with --miss live, go to the
router and are appended to the cassette.

"Router stopped" is the router out of reach: during a replay RESPAN_BASE_URL
names a loopback port nothing listens on (respan replay's --miss live is
the only thing that would use it), and the stand-in router must receive
nothing.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from node_fixtures import node_sdks  # noqa: F401  (fixture)
from standin.helpers import assert_no_secrets, make_secret, read_log, run

CHAT = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
CHAT_STREAM = ('{"model": "gpt-4o-mini", "stream": true, '
               '"messages": [{"role": "user", "content": "hi"}]}')

PY_CLIENT = r"""
import http.client, ssl, sys
host, path, key, body = sys.argv[1:5]
for _ in range(int(sys.argv[5]) if len(sys.argv) > 5 else 1):
    c = http.client.HTTPSConnection(host, context=ssl.create_default_context())
    c.request("POST", path, body, {"Authorization": "Bearer " + key,
                                   "x-goog-api-key": key,
                                   "Content-Type": "application/json"})
    r = c.getresponse()
    print(r.status)
    print(r.read().decode().replace("\n", " "))     # one line per answer
    c.close()
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(respan_env, librespan) -> dict:
    """For respan run and respan replay: they set LD_PRELOAD themselves."""
    e = dict(respan_env)
    e.pop("LD_PRELOAD")
    e["RESPAN_LIBRARY"] = str(librespan)
    return e


def offline(env: dict) -> dict:
    """The same environment with the router out of reach."""
    return dict(env, RESPAN_BASE_URL=f"https://127.0.0.1:{_closed_port()}/api/")


def client_argv(kind: str, tmp_path: Path, key: str, body: str = CHAT,
                url: str = "https://api.openai.com/v1/chat/completions",
                times: int = 1) -> list:
    if kind == "curl" and os.environ.get("RESPAN_SAN_RUNTIME"):
        # The curl command hangs in setlocale() with an ASan runtime preloaded
        # (the Makefile's e2e-san note); Python covers the sanitizer run.
        pytest.skip("curl under an ASan runtime (see the Makefile)")
    if kind == "curl":
        return ["curl", "-sS", "-N", "--http1.1", url, "-H", "Authorization: Bearer " + key,
                "-H", "Content-Type: application/json", "-d", body]
    script = tmp_path / "client.py"
    script.write_text(PY_CLIENT)
    host, _, path = url.removeprefix("https://").partition("/")
    return ["/usr/bin/python3", str(script), host, "/" + path, key, body, str(times)]


def record(respan_cli, env, tape, argv):
    return run([respan_cli, "run", "--record", "--log", tape, "--", *argv], env=env,
               timeout=60)


def replay(respan_cli, env, tape, argv, *options, log=None):
    opts = list(options) + (["--log", str(log)] if log else [])
    return run([respan_cli, "replay", *opts, tape, "--", *argv], env=env, timeout=60)


@pytest.mark.parametrize("kind", ["curl", "python"])
@pytest.mark.parametrize("body", [CHAT, CHAT_STREAM], ids=["plain", "stream"])
def test_record_then_replay(kind, body, respan_cli, env, router, tmp_path):
    """The program's output replayed is the output recorded, byte for byte,
    with the router out of reach and told nothing; the provider key in the
    replayed run differs, and the body's keys come in another order."""
    tape = tmp_path / "tape.jsonl"
    key = make_secret("sk-proj-")
    first = record(respan_cli, env, tape, client_argv(kind, tmp_path, key, body))
    assert first.returncode == 0, first.stderr
    assert len(router.requests()) == 1
    router.clear()

    shuffled = json.dumps(dict(reversed(list(json.loads(body).items()))), indent=1)
    again = replay(respan_cli, offline(env), tape,
                   client_argv(kind, tmp_path, make_secret("sk-proj-"), shuffled),
                   log=tmp_path / "replay.jsonl")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert b"Hello from the stand-in router" in again.stdout or b"data:" in again.stdout
    assert router.requests() == []
    # The replayed run is logged like any other, with no key in it.
    [req] = read_log(tmp_path / "replay.jsonl", type="request")
    [resp] = read_log(tmp_path / "replay.jsonl", type="response")
    assert req["routed"] is True and resp["status"] == 200
    assert resp["sse"] is (body == CHAT_STREAM)
    assert_no_secrets(tmp_path / "replay.jsonl", key, env["RESPAN_API_KEY"])


def test_repeated_requests_get_the_recorded_answers_in_order(respan_cli, env, router,
                                                             tmp_path):
    """Two identical requests were recorded (the stand-in numbers its
    answers): replayed, they get the first answer then the second; a third
    is a miss."""
    tape = tmp_path / "tape.jsonl"
    key = make_secret("sk-proj-")
    first = record(respan_cli, env, tape, client_argv("python", tmp_path, key, times=2))
    assert first.returncode == 0, first.stderr
    answers = [json.loads(l)["id"] for l in first.stdout.decode().splitlines()
               if l.startswith("{")]
    assert len(set(answers)) == 2, answers
    again = replay(respan_cli, offline(env), tape,
                   client_argv("python", tmp_path, key, times=3))
    lines = again.stdout.decode().splitlines()
    got = [json.loads(l).get("id") for l in lines if l.startswith("{")]
    assert got[:2] == answers and lines.count("404") == 1, lines
    assert again.returncode == 1, again.stderr
    assert b"1 of 3 requests had no recorded answer" in again.stderr


def test_a_miss_fails_and_says_which(respan_cli, env, router, tmp_path):
    """A request not in the cassette never reaches the network: the program
    gets a 404 naming it, the log a replay_miss event, and respan exits
    non-zero though the program succeeded."""
    tape = tmp_path / "tape.jsonl"
    key = make_secret("sk-proj-")
    assert record(respan_cli, env, tape, client_argv("curl", tmp_path, key)).returncode == 0
    router.clear()
    other = CHAT.replace("hi", "something else")
    log = tmp_path / "replay.jsonl"
    again = replay(respan_cli, offline(env), tape, client_argv("curl", tmp_path, key, other),
                   log=log)
    assert again.returncode == 1, again.stderr
    answer = json.loads(again.stdout)
    assert answer["error"]["type"] == "replay_miss"
    assert "POST /api/chat/completions" in answer["error"]["message"]
    assert f"(openai, a {len(other)}-byte body)" in answer["error"]["message"], answer
    [event] = read_log(log, type="event")
    assert event["event"] == "replay_miss" and "POST /api/chat/completions" in event["detail"]
    assert router.requests() == []


def test_miss_live_goes_to_the_router_and_is_appended(respan_cli, env, router, tmp_path):
    """--miss live: an unmatched request reaches the router with the Respan
    key, the program gets the router's answer, and the exchange is added to
    the cassette, so the next replay, offline, answers it."""
    tape = tmp_path / "tape.jsonl"
    tape.write_text("")
    key = make_secret("sk-proj-")
    argv = client_argv("python", tmp_path, key, CHAT_STREAM)
    live = replay(respan_cli, env, tape, argv, "--miss", "live", log=tmp_path / "live.jsonl")
    assert live.returncode == 0, live.stderr
    [req] = router.requests()
    assert req.header("authorization") == "Bearer " + env["RESPAN_API_KEY"]
    assert b"1 exchanges added" in live.stderr, live.stderr
    assert [r["type"] for r in read_log(tape)] == ["request", "response"]
    router.clear()
    again = replay(respan_cli, offline(env), tape, argv)
    assert again.returncode == 0, again.stderr
    assert again.stdout == live.stdout
    assert router.requests() == []
    assert_no_secrets(tape, key, env["RESPAN_API_KEY"])


def test_an_answer_cut_by_the_body_cap_cannot_be_replayed(respan_cli, env, router, tmp_path):
    """Recorded without --record and a small RESPAN_LOG_BODY_MAX: the answer
    in the log is cut, and the replay says so instead of answering with
    part of it."""
    tape = tmp_path / "tape.jsonl"
    key = make_secret("sk-proj-")
    cut_env = dict(env, RESPAN_LOG_BODY_MAX="100")
    first = run([respan_cli, "run", "--log", tape, "--", *client_argv("curl", tmp_path, key)],
                env=cut_env)
    assert first.returncode == 0, first.stderr
    assert read_log(tape, type="response")[0]["body_truncated"] is True
    again = replay(respan_cli, offline(env), tape, client_argv("curl", tmp_path, key))
    assert again.returncode == 1
    message = json.loads(again.stdout)["error"]["message"]
    assert "RESPAN_LOG_BODY_MAX" in message and "respan run --record" in message, message


def test_gemini_key_in_the_query_does_not_matter(respan_cli, env, router, tmp_path):
    """Gemini's key= query parameter is a credential: another key in the
    replayed request still matches."""
    tape = tmp_path / "tape.jsonl"
    url = ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:"
           "generateContent?key={}")
    body = '{"contents": [{"parts": [{"text": "hi"}]}]}'
    first = record(respan_cli, env, tape,
                   client_argv("curl", tmp_path, "k", body, url.format(make_secret("AIza"))))
    assert first.returncode == 0 and b"candidates" in first.stdout, first.stdout
    again = replay(respan_cli, offline(env), tape,
                   client_argv("curl", tmp_path, "k", body, url.format(make_secret("AIza"))))
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_node_sdk_record_then_replay(mode, node_sdks, respan_cli, env, router, tmp_path):
    """The OpenAI SDK for Node (TLS compiled in: through respan run's relay)
    recorded, then replayed offline: the same output."""
    tape = tmp_path / "tape.jsonl"
    argv = node_sdks.argv("openai_chat.mjs", *(["stream"] if mode == "stream" else []))
    first = run([respan_cli, "run", "--record", "--log", tape, "--", *argv], env=env,
                cwd=node_sdks.dir, timeout=60)
    assert first.returncode == 0, first.stderr
    assert len(router.requests()) == 1
    router.clear()
    again = run([respan_cli, "replay", tape, "--", *argv], env=offline(env),
                cwd=node_sdks.dir, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout and again.stdout.strip(), again.stdout
    assert router.requests() == []


def test_usage(respan_cli, env):
    assert run([respan_cli, "replay", "--help"], env=env).returncode == 0
    bad = run([respan_cli, "replay", "--miss", "sometimes", "t", "--", "true"], env=env)
    assert bad.returncode == 2 and b"expected fail or live" in bad.stderr
    missing = run([respan_cli, "replay", "/nonexistent/tape", "--", "true"], env=env)
    assert missing.returncode == 2 and b"/nonexistent/tape" in missing.stderr
    assert run([respan_cli, "replay", "t"], env=env).returncode == 2
