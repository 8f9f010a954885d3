"""Claude Code under librespan: `LD_PRELOAD=librespan.so claude -p "say hi"`.

Claude Code is a Bun executable with BoringSSL compiled in, so only layer 1
(docs/contract.md#layers) reaches it: the library sets ANTHROPIC_BASE_URL (router
base + "anthropic/"), ANTHROPIC_AUTH_TOKEN (the Respan key), removes
ANTHROPIC_API_KEY, and sets NODE_EXTRA_CA_CERTS (Bun reads it) to
RESPAN_CA_FILE. Claude Code then streams its Messages call from the router.

Nothing else is needed to run it non-interactively here: `-p` skips the
trust dialog and onboarding, HOME is a fresh directory (Claude Code writes
~/.claude.json and ~/.claude/ there), the working directory is an empty one,
and the environment is built from scratch (no TERM, no CI variables).

Besides its API calls, Claude Code makes background calls that ignore the
base URL: `GET /api/directory/server-urls` (the MCP registry) and `POST
/api/event_logging/v2/batch` (its own event logging, ~200 KB), both to
api.anthropic.com, without credentials. The library cannot route a program
with TLS compiled in, and layer 1 put the Respan key into
ANTHROPIC_AUTH_TOKEN: so the look-up of api.anthropic.com is refused
(`blocked`, naming that variable) whatever RESPAN_FAIL says, and the
answer still comes from the router. One pair of tests makes the name
resolve for Claude Code alone: an /etc/hosts of the test's, bind-mounted
in a mount namespace of Claude Code's own (`unshare -m`), names
127.55.0.1, where a stand-in for api.anthropic.com listens on port 443
(root only; skipped otherwise); nothing reaches it. CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 turns that
traffic off (and the HEAD {base}api/hello it sends to warm the connection).

Claude Code is installed once from node/claude-code/package.json into
.cache/node (see node_fixtures.py); without npm or the registry the tests are
skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from node_fixtures import claude_code  # noqa: F401  (fixture)
from standin.certs import make_named_cert
from standin.proxy import Everywhere, Proxy
from standin.router import Router
from standin.helpers import (assert_no_secrets, clean_env, make_secret, program_answer,
                             read_log, relay_processes, request_credentials, run_with_pid,
                             under_library)
from standin.router import ASSISTANT_TEXT, INPUT_TOKENS, OUTPUT_TOKENS

PROMPT = "say hi"
TIMEOUT = 120
MESSAGES = "/api/anthropic/v1/messages"
PROVIDER_HOSTS = {"api.anthropic.com", "api.openai.com",
                  "generativelanguage.googleapis.com", "aiplatform.googleapis.com"}
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")


def run_claude(argv: list, env: dict, cwd: Path):
    """Run Claude Code with exactly ENV; (CompletedProcess, pid)."""
    return run_with_pid(argv, env, cwd=cwd, timeout=TIMEOUT)


def answer(done: subprocess.CompletedProcess) -> str:
    return program_answer("claude", done)


def credentials(req) -> list:
    return request_credentials(req, CREDENTIAL_HEADERS)


def check_router_traffic(router, key: str, *other_secrets: str) -> list:
    """Every request Claude Code sent the router is under the Anthropic
    passthrough and carries the Respan key, as a Bearer token, or nothing
    (its HEAD api/hello; through respan run's relay that one gets the key as
    x-api-key, the Anthropic style docs/contract.md#routes gives a request with no
    credential); at least one streamed Messages call. Returns the Messages
    calls."""
    reqs = router.requests()
    assert reqs, "Claude Code sent the router nothing"
    for req in reqs:
        assert req.url_path.startswith("/api/anthropic/"), req.path
        assert credentials(req) in ([], [("authorization", f"Bearer {key}")],
                                    [("x-api-key", key)]), \
            (req.method, req.path, credentials(req))
        blob = json.dumps(req.headers).encode() + req.path.encode() + req.body
        for s in other_secrets:
            assert s.encode() not in blob, f"{s[:6]}... reached the router: {req.path}"
    calls = [r for r in reqs if r.method == "POST" and r.url_path == MESSAGES]
    assert calls, [f"{r.method} {r.path} -> {r.status}" for r in reqs]
    for call in calls:
        assert credentials(call) == [("authorization", f"Bearer {key}")]
        assert call.json().get("stream") is True       # Claude Code streams
        assert call.route == "anthropic.messages.stream" and call.status == 200
    return calls


def egress_events(log_path) -> list:
    """The log's events about traffic the library did not route."""
    return [e for e in read_log(log_path, type="event")
            if e.get("event") in ("bypass", "blocked", "not_routed")]


def describe(done, router, log_path) -> str:
    """What happened, for -s runs and failure messages."""
    lines = [f"exit {done.returncode}; stdout {done.stdout.decode(errors='replace').strip()!r}"]
    lines += [f"router: {r.method} {r.path} -> {r.status} ({r.route}) sni={r.sni} "
              f"creds={[n for n, _ in credentials(r)]} body={len(r.body)} bytes"
              for r in router.requests()]
    lines += [f"log: {json.dumps(e)}" for e in read_log(log_path)]
    return "\n".join(lines)


@pytest.fixture
def claude_env(respan_env, tmp_path) -> dict:
    """respan_env (LD_PRELOAD, RESPAN_*, a fresh HOME) for Claude Code."""
    env = dict(respan_env)
    (tmp_path / "work").mkdir()
    return env


def claude_argv(claude_code) -> list:
    return [claude_code.bin, "-p", PROMPT]


def test_claude_print_gets_its_answer_from_router(claude_code, claude_env, router, tmp_path):
    done, pid = run_claude(claude_argv(claude_code), claude_env, tmp_path / "work")
    print(describe(done, router, claude_env["RESPAN_LOG"]))
    assert answer(done) == ASSISTANT_TEXT
    check_router_traffic(router, claude_env["RESPAN_API_KEY"])
    # Background traffic that ignores the base URL is accounted for: every
    # event of this kind names a provider host and Claude Code's process, and
    # none let anything through (the Respan key is in ANTHROPIC_AUTH_TOKEN).
    for ev in egress_events(claude_env["RESPAN_LOG"]):
        assert ev["event"] in ("not_routed", "blocked"), ev
        assert str(ev.get("host")).split(":")[0] in PROVIDER_HOSTS, ev
        assert ev["pid"] == pid, ev
    assert_no_secrets(claude_env["RESPAN_LOG"], claude_env["RESPAN_API_KEY"])


def test_claude_preset_api_key_never_reaches_router(claude_code, claude_env, router, tmp_path):
    """ANTHROPIC_API_KEY is removed: Claude Code would send it as x-api-key
    beside the Respan token (and prefer it)."""
    provider_key = make_secret("sk-ant-api03-")
    claude_env["ANTHROPIC_API_KEY"] = provider_key
    done, _ = run_claude(claude_argv(claude_code), claude_env, tmp_path / "work")
    print(describe(done, router, claude_env["RESPAN_LOG"]))
    assert answer(done) == ASSISTANT_TEXT
    check_router_traffic(router, claude_env["RESPAN_API_KEY"], provider_key)
    assert_no_secrets(claude_env["RESPAN_LOG"], claude_env["RESPAN_API_KEY"], provider_key)
    home = Path(claude_env["HOME"])
    for f in home.rglob("*"):   # nor did Claude Code keep it anywhere
        if f.is_file():
            assert provider_key.encode() not in f.read_bytes(), f


def test_claude_fail_closed_still_answers(claude_code, claude_env, router, tmp_path):
    claude_env["RESPAN_FAIL"] = "closed"
    done, pid = run_claude(claude_argv(claude_code), claude_env, tmp_path / "work")
    print(describe(done, router, claude_env["RESPAN_LOG"]))
    assert answer(done) == ASSISTANT_TEXT
    check_router_traffic(router, claude_env["RESPAN_API_KEY"])
    for ev in egress_events(claude_env["RESPAN_LOG"]):
        assert ev["event"] in ("not_routed", "blocked"), ev   # never let through
        assert str(ev.get("host")).split(":")[0] in PROVIDER_HOSTS, ev
        assert ev["pid"] == pid, ev


@pytest.mark.parametrize("how", ["preload", "respan run"])
def test_claude_background_calls_are_intercepted(how, claude_code, claude_env, respan_cli,
                                                 router, tmp_path):
    """Claude Code's background calls to api.anthropic.com (MCP registry,
    event logging) ignore ANTHROPIC_BASE_URL. With interception (the
    default) the look-up names the relay (the library's, or respan run's),
    which answers Bun's TLS with a certificate from the interception CA (Bun
    reads NODE_EXTRA_CA_CERTS, which layer 1 set): they are routed to the
    router's Anthropic passthrough with the Respan key, and logged like any
    call, with no relay_error."""
    argv = under_library(how, claude_argv(claude_code), claude_env, respan_cli)
    done, pid = run_claude(argv, claude_env, tmp_path / "work")
    log = claude_env["RESPAN_LOG"]
    print(describe(done, router, log))
    assert answer(done) == ASSISTANT_TEXT
    check_router_traffic(router, claude_env["RESPAN_API_KEY"])
    background = [r for r in router.requests() if "/api/directory/" in r.path or
                  "/event_logging/" in r.path]
    assert background, describe(done, router, log)
    for req in background:
        assert credentials(req) == [("x-api-key", claude_env["RESPAN_API_KEY"])]
    urls = [r["url"] for r in read_log(log, type="request")]
    assert any(u.startswith("https://api.anthropic.com/api/") for u in urls), urls
    assert egress_events(log) == []
    assert not [e for e in read_log(log, type="event") if e["event"] == "relay_error"]
    assert_no_secrets(log, claude_env["RESPAN_API_KEY"])


def test_claude_background_lookups_are_refused(claude_code, claude_env, router, tmp_path):
    """RESPAN_INTERCEPT=off: the library cannot route those background calls
    of a program with TLS compiled in. Layer 1 put the Respan key into
    ANTHROPIC_AUTH_TOKEN, so the look-ups are refused (`blocked`, naming
    the variable) even though RESPAN_FAIL is open, and Claude Code still
    answers. With CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 there is no such
    traffic."""
    claude_env["RESPAN_INTERCEPT"] = "off"
    done, pid = run_claude(claude_argv(claude_code), claude_env, tmp_path / "work")
    print(describe(done, router, claude_env["RESPAN_LOG"]))
    assert answer(done) == ASSISTANT_TEXT
    events = [e for e in egress_events(claude_env["RESPAN_LOG"])
              if str(e.get("host")).split(":")[0] == "api.anthropic.com"]
    assert events, describe(done, router, claude_env["RESPAN_LOG"])
    assert [e["event"] for e in events] == ["blocked"], events
    assert "ANTHROPIC_AUTH_TOKEN" in events[0]["detail"], events

    quiet = dict(claude_env, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
                 RESPAN_LOG=str(tmp_path / "quiet.jsonl"))
    router.clear()
    done, _ = run_claude(claude_argv(claude_code), quiet, tmp_path / "work")
    print(describe(done, router, quiet["RESPAN_LOG"]))
    assert answer(done) == ASSISTANT_TEXT
    check_router_traffic(router, quiet["RESPAN_API_KEY"])
    assert egress_events(quiet["RESPAN_LOG"]) == []


# Where api.anthropic.com resolves (see the module's docstring).
PROVIDER_ADDR = "127.55.0.1"


@pytest.fixture
def resolving_anthropic(pki, tmp_path):
    """(stand-in for api.anthropic.com on PROVIDER_ADDR:443, argv prefix that
    runs a program with an /etc/hosts naming it)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1): a mount namespace and port 443")
    hosts = tmp_path / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + f"\n{PROVIDER_ADDR} api.anthropic.com\n")
    prefix = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts]
    probe = subprocess.run([*prefix, "getent", "hosts", "api.anthropic.com"], env={},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if probe.returncode != 0 or PROVIDER_ADDR.encode() not in probe.stdout:
        pytest.skip(f"no mount namespace here: {probe.stdout.decode(errors='replace')[:200]}")
    cert, key = make_named_cert(pki, "providers")
    try:
        provider = Router(cert, key, host=PROVIDER_ADDR, port=443).start()
    except OSError as e:
        pytest.skip(f"cannot listen on {PROVIDER_ADDR}:443: {e}")
    try:
        yield provider, prefix
    finally:
        provider.stop()


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_claude_background_calls_are_refused_where_the_name_resolves(
        fail, claude_code, claude_env, router, resolving_anthropic, tmp_path):
    """RESPAN_INTERCEPT=off, and api.anthropic.com resolves: Claude Code's
    background calls would go out. The Respan key is in ANTHROPIC_AUTH_TOKEN, so they are
    refused at the look-up (Bun asks getaddrinfo for service "0" first)
    whatever RESPAN_FAIL says: no connection is even attempted, and the
    answer still comes from the router."""
    provider, prefix = resolving_anthropic
    claude_env["RESPAN_FAIL"] = fail
    claude_env["RESPAN_INTERCEPT"] = "off"
    done, pid = run_claude([*prefix, *claude_argv(claude_code)], claude_env, tmp_path / "work")
    print(describe(done, router, claude_env["RESPAN_LOG"]))
    assert answer(done) == ASSISTANT_TEXT
    check_router_traffic(router, claude_env["RESPAN_API_KEY"])
    assert provider.requests() == [] and provider.errors() == []
    events = egress_events(claude_env["RESPAN_LOG"])
    assert [(e["event"], e["host"], e["pid"]) for e in events] == \
        [("blocked", "api.anthropic.com", pid)]
    assert "ANTHROPIC_AUTH_TOKEN" in events[0]["detail"], events
    assert_no_secrets(claude_env["RESPAN_LOG"], claude_env["RESPAN_API_KEY"])


def check_relay_log(log, calls, exe: str) -> None:
    """One relay request record per Messages call the router got, each with
    its response: routed, streamed, the answer merged, usage; no key."""
    requests = [r for r in read_log(log, type="request")
                if r.get("layer") == "relay" and r.get("method") == "POST"
                and "/v1/messages" in (r.get("routed_url") or r.get("url") or "")]
    assert len(requests) == len(calls), read_log(log)
    responses = {r["id"]: r for r in read_log(log, type="response")}
    for rq in requests:
        assert rq["provider"] == "anthropic" and rq["routed"] is True
        assert rq["exe"] == exe
        rs = responses[rq["id"]]
        assert rs["status"] == 200 and rs["sse"] is True
        assert rs["output_text"] == ASSISTANT_TEXT
        assert rs["usage"]["input_tokens"] == INPUT_TOKENS
        assert rs["usage"]["output_tokens"] == OUTPUT_TOKENS


def test_claude_print_is_logged_in_full(claude_code, claude_env, router, tmp_path):
    """Plain LD_PRELOAD: the library starts its relay on Claude Code's first
    call (the base URL names it by a stand-in address), so the log holds the
    whole streamed exchange, and the relay is gone once Claude Code is."""
    done, pid = run_claude(claude_argv(claude_code), claude_env, tmp_path / "work")
    log = claude_env["RESPAN_LOG"]
    print(describe(done, router, log))
    assert answer(done) == ASSISTANT_TEXT
    calls = check_router_traffic(router, claude_env["RESPAN_API_KEY"])
    check_relay_log(log, calls, str(Path(claude_code.bin).resolve()))
    assert not [e for e in read_log(log, type="event") if e["event"] == "relay_error"]
    assert relay_processes(claude_env) == []
    assert_no_secrets(log, claude_env["RESPAN_API_KEY"])


def test_respan_run_claude_logs_through_relay(claude_code, respan_cli, claude_env, router,
                                              tmp_path):
    """`respan run -- claude -p`: the relay copies the streamed exchange to the log."""
    argv = under_library("respan run", claude_argv(claude_code), claude_env, respan_cli)
    done, _ = run_claude(argv, claude_env, tmp_path / "work")
    log = claude_env["RESPAN_LOG"]
    print(describe(done, router, log))
    assert answer(done) == ASSISTANT_TEXT
    calls = check_router_traffic(router, claude_env["RESPAN_API_KEY"])
    check_relay_log(log, calls, str(Path(claude_code.bin).resolve()))
    assert_no_secrets(log, claude_env["RESPAN_API_KEY"])


@pytest.mark.parametrize("how", ["preload", "respan run"])
def test_works_with_and_without_the_library(how, claude_code, claude_env, respan_cli, router,
                                            pki, tmp_path):
    """The measure of issue 14: `claude -p "say hi"` with the user's
    ANTHROPIC_API_KEY. Without the library it reaches Anthropic (here a
    stand-in for api.anthropic.com that a CONNECT proxy sends every host to,
    as a network would) and prints the answer; with it, the same command
    prints the same answer, its streamed Messages call made to the Respan
    router with the Respan key, and the user's key never sent there."""
    own_key = make_secret("sk-ant-api03-")
    cert, cert_key = make_named_cert(pki, "anthropic_hosts")
    with Router(cert, cert_key, base_path="/",
                record=str(tmp_path / "anthropic.jsonl")) as anthropic, Proxy() as proxy:
        proxy.routes = Everywhere(("127.0.0.1", anthropic.port))
        (tmp_path / "bare" / "work").mkdir(parents=True)
        bare = clean_env(tmp_path / "bare" / "home")
        bare.update(ANTHROPIC_API_KEY=own_key, HTTPS_PROXY=proxy.url,
                    NODE_EXTRA_CA_CERTS=pki["ca"])
        alone, _ = run_claude(claude_argv(claude_code), bare, tmp_path / "bare" / "work")
        print(describe(alone, anthropic, tmp_path / "none.jsonl"))
        calls = [r for r in anthropic.requests()
                 if r.method == "POST" and r.url_path == "/v1/messages"]
        assert calls and all(credentials(c) == [("x-api-key", own_key)] for c in calls)
        assert "api.anthropic.com:443" in {t for t, _ in proxy.connects()}

    claude_env["ANTHROPIC_API_KEY"] = own_key
    argv = under_library(how, claude_argv(claude_code), claude_env, respan_cli)
    done, _ = run_claude(argv, claude_env, tmp_path / "work")
    print(describe(done, router, claude_env["RESPAN_LOG"]))
    assert answer(alone) == answer(done) == ASSISTANT_TEXT
    check_router_traffic(router, claude_env["RESPAN_API_KEY"], own_key)
    assert_no_secrets(claude_env["RESPAN_LOG"], claude_env["RESPAN_API_KEY"], own_key)
