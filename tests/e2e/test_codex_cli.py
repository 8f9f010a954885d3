"""OpenAI's Codex CLI under librespan: `codex exec "say hi"`.

@openai/codex 0.171.0 is a Node launcher (bin/codex.js) that starts a
static musl Rust binary (reqwest on rustls, native roots) from the
per-platform package @openai/codex-linux-x64; under Node 20 it spawns it as
a child and waits (Node versions with process.execve replace themselves
with it). The library loads into the launcher, never into the binary.

What the binary does for `codex exec "say hi"` (seen through the stand-in
router and a recording CONNECT proxy; test_codex_facts_without_library):
- the model call goes to `{openai_base_url}/responses` (default
  https://api.openai.com/v1): first a WebSocket GET (`Upgrade: websocket`,
  `OpenAI-Beta: responses_websockets=2026-02-06`, the key as Bearer); a
  426 makes it fall back at once (a 404 or 405: seven attempts, about 6 s),
  then `POST .../responses` with `stream: true` (about 74 KB: model,
  input, reasoning, store false, prompt_cache_key, client_metadata),
  `Accept: text/event-stream`, answered by the Responses SSE stream
  (response.created ... response.completed with usage); it prints the
  merged text on stdout;
- with the default base URL and a key, `GET
  https://chatgpt.com/backend-api/codex/models?client_version=0.171.0`
  (its model list) four times, with the same Bearer key: CODEX_API_KEY's
  value goes to chatgpt.com too. Not with openai_base_url set;
- background calls without the user's key: `git ls-remote
  https://github.com/openai/plugins.git`, `GET api.github.com/repos/openai/plugins`,
  `GET chatgpt.com/backend-api/plugins/export/curated`, and OTLP metrics to
  `ab.chatgpt.com/otlp/v1/metrics` (a public statsig client key).

What it reads: the base URL from `openai_base_url` in $CODEX_HOME/config.toml
(or `-c openai_base_url=...`), never OPENAI_BASE_URL; its key from
CODEX_API_KEY, else the login store ($CODEX_HOME/auth.json, `codex login
--with-api-key`); OPENAI_API_KEY is not read by `codex exec` (no key at all:
the requests go without a credential). It honours HTTPS_PROXY for every
host, loopback included, and trusts CODEX_CA_CERTIFICATE, else SSL_CERT_FILE,
on top of the native roots (SSL_CERT_FILE / SSL_CERT_DIR, or the system's).

So the library, in the launcher (the script node runs is under
node_modules/@openai/codex/, preload/envlayer.h ENVLAYER_CODEX_CLI), sets no
OPENAI_* variable and gives the binary what it does honour: HTTPS_PROXY
naming the relay (the library's own, started there and then, or respan
run's), which intercepts api.openai.com with the interception CA and passes
every other host on (to the user's own proxy when there was one), and
SSL_CERT_FILE naming a bundle of the CAs it would have read plus the
interception CA (test_codex_exec_is_routed_and_logged,
test_works_with_and_without_the_library). A Codex with its own
openai_base_url is left alone and keeps working
(test_library_leaves_a_configured_codex_alone).

Every run gets an environment built from scratch (the shell running the
tests exports SSL_CERT_FILE and others), a fresh HOME and CODEX_HOME, an
empty working directory and `--skip-git-repo-check` (exec refuses a
directory that is not a trusted git repository). Codex is installed once
from node/codex/package.json into .cache/node (node_fixtures.py); without
npm or the registry the tests are skipped.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from node_fixtures import codex_cli  # noqa: F401  (fixture)
from standin.certs import PROVIDER_NAMES, make_named_cert
from standin.helpers import (assert_no_secrets, clean_env, make_secret, read_log,
                             relay_processes, request_credentials, under_library)
from standin.proxy import Everywhere, Proxy
from standin.router import ASSISTANT_TEXT, INPUT_TOKENS, OUTPUT_TOKENS, Router

PROMPT = "say hi"
TIMEOUT = 90
# Codex retrying its model call: the call failed (an unreachable host, a
# certificate it refuses); it would retry for ever ("waiting for network").
GIVE_UP = "Reconnecting..."
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")

# --------------------------------------------------------------------------
# Running Codex


def run_codex(argv: list, env: dict, cwd: Path, timeout: float = TIMEOUT):
    """Run Codex with exactly ENV in its own session; (CompletedProcess,
    pid, why) where WHY is None when it exited by itself, else why it was
    stopped (its model call being retried, or the timeout): the whole
    session is then sent SIGTERM, and SIGKILL if needed."""
    proc = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    out, err = [], []
    gave_up = threading.Event()

    def pump(stream, into, watch):
        for line in iter(stream.readline, b""):
            into.append(line)
            if watch and GIVE_UP.encode() in line:
                gave_up.set()

    readers = [threading.Thread(target=pump, args=(proc.stdout, out, False), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err, True), daemon=True)]
    for t in readers:
        t.start()
    why = None
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if gave_up.is_set():
            why = f"stopped: it printed {GIVE_UP!r} (its model call failed)"
        elif time.monotonic() > deadline:
            why = f"stopped after {timeout} s"
        if why:
            _stop_session(proc)
            break
        time.sleep(0.1)
    proc.wait()
    for t in readers:
        t.join(timeout=5)
    return (subprocess.CompletedProcess(argv, proc.returncode, b"".join(out), b"".join(err)),
            proc.pid, why)


def _stop_session(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def answer(result) -> str:
    done, _, why = result
    assert done.returncode == 0 and why is None, (
        f"codex exited {done.returncode}{' (' + why + ')' if why else ''}\nstdout:\n"
        f"{done.stdout.decode(errors='replace')[-2000:]}\nstderr:\n"
        f"{done.stderr.decode(errors='replace')[-3000:]}")
    return done.stdout.decode(errors="replace").strip()


def exec_argv(program="codex") -> list:
    return [program, "exec", "--skip-git-repo-check", PROMPT]


def codex_env(tmp_path: Path, codex_cli, base: dict = None, **extra: str) -> dict:
    """BASE (default: PATH, HOME and LANG only) with Codex's bin directory
    first in PATH, a fresh CODEX_HOME, and EXTRA; the working directory
    tmp_path/work is made too."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = dict(base) if base is not None else clean_env(tmp_path / "home")
    Path(env["HOME"]).mkdir(mode=0o700, exist_ok=True)
    env["PATH"] = f"{Path(codex_cli.bin).parent}:{env['PATH']}"
    env["CODEX_HOME"] = str(tmp_path / "codex-home")
    Path(env["CODEX_HOME"]).mkdir(mode=0o700, exist_ok=True)
    (tmp_path / "work").mkdir(exist_ok=True)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def write_config(env: dict, base_url: str) -> None:
    """$CODEX_HOME/config.toml naming BASE_URL as Codex's OpenAI base URL."""
    (Path(env["CODEX_HOME"]) / "config.toml").write_text(
        f"openai_base_url = {json.dumps(base_url)}\n")


def credentials(req) -> list:
    return request_credentials(req, CREDENTIAL_HEADERS)


def describe(result, routers: dict, log_path=None) -> str:
    """What happened, for -s runs and failure messages."""
    done, _, why = result
    lines = [f"exit {done.returncode} {why or ''}; stdout "
             f"{done.stdout.decode(errors='replace').strip()!r}"]
    for name, router in routers.items():
        lines += [f"{name}: {r.method} {r.path} -> {r.status} ({r.route}) sni={r.sni} "
                  f"creds={[n for n, _ in credentials(r)]} body={len(r.body)} bytes"
                  for r in router.requests()]
    if log_path:
        lines += [f"log: {json.dumps(e)[:400]}" for e in read_log(log_path)]
    return "\n".join(lines)


def check_model_calls(reqs: list, prefix: str, key: str) -> None:
    """REQS are exactly Codex's model call under PREFIX (e.g. /api/): the
    WebSocket GET refused with 426, then the streamed POST answered, both
    with KEY as Bearer."""
    assert [(r.method, r.url_path, r.status) for r in reqs] == \
        [("GET", f"{prefix}responses", 426), ("POST", f"{prefix}responses", 200)]
    ws, post = reqs
    assert ws.header("upgrade", "").lower() == "websocket"
    assert ws.header("openai-beta", "").startswith("responses_websockets=")
    assert ws.route == "openai.upgrade_refused"
    assert post.route == "openai.responses.stream"
    assert post.header("accept") == "text/event-stream"
    body = post.json()
    assert body["stream"] is True and isinstance(body.get("input"), list) and body.get("model")
    for req in reqs:
        assert credentials(req) == [("authorization", f"Bearer {key}")], credentials(req)
        assert req.header("user-agent", "").startswith("codex_exec/")


# --------------------------------------------------------------------------
# Without the library: the stand-in router, and what Codex reads


def test_standin_refuses_websocket_upgrade(router, pki):
    """The stand-in's answer to Codex's WebSocket GET (no Codex needed): 426
    in OpenAI's error format, on a connection kept open; a GET without
    `Upgrade: websocket` is still refused as before (405, POST only)."""
    ctx = ssl.create_default_context(cafile=pki["ca"])
    conn = http.client.HTTPSConnection("localhost", router.port, context=ctx, timeout=10)
    try:
        conn.request("GET", "/api/responses", headers={
            "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "OpenAI-Beta": "responses_websockets=2026-02-06"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert (resp.status, resp.reason) == (426, "Upgrade Required")
        assert "WebSocket" in body["error"]["message"]
        conn.request("GET", "/api/responses")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 405
    finally:
        conn.close()
    assert [(r.method, r.status, r.route) for r in router.requests()] == \
        [("GET", 426, "openai.upgrade_refused"), ("GET", 405, "error")]


@pytest.mark.parametrize("ca_var", ["CODEX_CA_CERTIFICATE", "SSL_CERT_FILE"])
def test_codex_answers_from_its_configured_base_url(ca_var, codex_cli, router, pki, tmp_path):
    """No library: Codex pointed at the stand-in router by its own means
    (openai_base_url in $CODEX_HOME/config.toml, CODEX_API_KEY, the test CA
    in either CA variable it reads) finishes and prints the answer. This
    proves the stand-in speaks enough of the Responses API for it."""
    key = make_secret("sk-proj-")
    env = codex_env(tmp_path, codex_cli, CODEX_API_KEY=key, **{ca_var: pki["ca"]})
    write_config(env, router.url_for("localhost"))
    result = run_codex(exec_argv(), env, tmp_path / "work")
    print(describe(result, {"router": router}))
    assert answer(result) == ASSISTANT_TEXT
    check_model_calls(router.requests(), "/api/", key)


def test_codex_facts_without_library(codex_cli, router, pki, tmp_path):
    """What the library has to work with, no library loaded: Codex reads
    neither OPENAI_BASE_URL (here the router's URL) nor OPENAI_API_KEY; it
    calls https://api.openai.com/v1/responses itself, through HTTPS_PROXY,
    trusting SSL_CERT_FILE, with CODEX_API_KEY as its key; and with the
    default base URL it sends that key to chatgpt.com as well (its model
    list). A CONNECT proxy sends every host to one stand-in holding a
    certificate for the provider names and chatgpt.com."""
    cert, cert_key = make_named_cert(pki, "codex_hosts", PROVIDER_NAMES + ("chatgpt.com",))
    codex_key, openai_key = make_secret("sk-proj-"), make_secret("sk-proj-")
    env = codex_env(tmp_path, codex_cli, CODEX_API_KEY=codex_key, OPENAI_API_KEY=openai_key,
                    OPENAI_BASE_URL=router.url_for("localhost"), SSL_CERT_FILE=pki["ca"])
    with Router(cert, cert_key, base_path="/v1/",
                record=str(tmp_path / "provider.jsonl")) as provider, Proxy() as proxy:
        proxy.routes = Everywhere(("127.0.0.1", provider.port))
        env["HTTPS_PROXY"] = proxy.url
        result = run_codex(exec_argv(), env, tmp_path / "work")
        print(describe(result, {"provider": provider, "router": router}))
        connects = [target for target, _ in proxy.connects()]
        reqs = provider.requests()
    assert answer(result) == ASSISTANT_TEXT
    assert router.requests() == []                      # OPENAI_BASE_URL: not read
    assert "api.openai.com:443" in connects and "chatgpt.com:443" in connects, connects
    check_model_calls([r for r in reqs if r.sni == "api.openai.com"], "/v1/", codex_key)
    models = [r for r in reqs if r.sni == "chatgpt.com"
              and r.url_path == "/backend-api/codex/models"]
    assert models, describe(result, {"provider": provider})
    for req in models:
        assert req.method == "GET" and req.query.get("client_version") == [codex_cli.version]
        assert credentials(req) == [("authorization", f"Bearer {codex_key}")]
    for req in reqs:                                    # OPENAI_API_KEY: not read
        blob = json.dumps(req.headers).encode() + req.path.encode() + req.body
        assert openai_key.encode() not in blob, req.path


# --------------------------------------------------------------------------
# Under the library


@pytest.mark.parametrize("mode", ["ld_preload", "respan_run"])
def test_library_leaves_a_configured_codex_alone(mode, codex_cli, respan_cli, respan_env,
                                                 router, pki, tmp_path):
    """A Codex the user pointed at an endpoint of their own (openai_base_url
    in config.toml, their own key) works under the library exactly as
    without it: the same answer, the same calls with their key at their
    endpoint, nothing at the Respan router, nothing logged. A base URL the
    user set is theirs (docs/contract.md#layers)."""
    own_key = make_secret("sk-proj-")
    with Router(pki["cert"], pki["key"], base_path="/v1/",
                record=str(tmp_path / "own.jsonl")) as own:
        base_url = f"https://localhost:{own.port}/v1"
        bare = codex_env(tmp_path / "bare", codex_cli, CODEX_API_KEY=own_key,
                         CODEX_CA_CERTIFICATE=pki["ca"])
        write_config(bare, base_url)
        result = run_codex(exec_argv(), bare, tmp_path / "bare" / "work")
        print(describe(result, {"own": own}))
        assert answer(result) == ASSISTANT_TEXT
        check_model_calls(own.requests(), "/v1/", own_key)

        own.clear()
        env = codex_env(tmp_path, codex_cli, base=respan_env, CODEX_API_KEY=own_key,
                        CODEX_CA_CERTIFICATE=pki["ca"])
        write_config(env, base_url)
        argv = under_library(mode, exec_argv(), env, respan_cli)
        result = run_codex(argv, env, tmp_path / "work")
        print(describe(result, {"own": own, "router": router}, env["RESPAN_LOG"]))
        assert answer(result) == ASSISTANT_TEXT
        check_model_calls(own.requests(), "/v1/", own_key)
    assert router.requests() == []
    assert read_log(env["RESPAN_LOG"], type="request") == []
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], own_key)


@pytest.mark.parametrize("key_var", ["CODEX_API_KEY", "OPENAI_API_KEY"])
@pytest.mark.parametrize("mode", ["respan_run", "ld_preload"])
def test_codex_exec_is_routed_and_logged(mode, key_var, codex_cli, respan_cli, respan_env,
                                         router, tmp_path):
    """The issue's case: `respan run -- codex exec "say hi"` and
    `LD_PRELOAD=librespan.so codex exec "say hi"`, Codex as installed (no
    config.toml), the user's key in CODEX_API_KEY or OPENAI_API_KEY. The
    model call reaches {base}responses with the Respan key only (the user's
    key never reaches the router), and the log holds the streamed exchange:
    routed, the Responses stream merged into output_text, usage."""
    own_key = make_secret("sk-proj-")
    env = codex_env(tmp_path, codex_cli, base=respan_env, **{key_var: own_key})
    argv = under_library(mode, exec_argv(), env, respan_cli)
    log = env["RESPAN_LOG"]
    result = run_codex(argv, env, tmp_path / "work")
    print(describe(result, {"router": router}, log))
    assert answer(result) == ASSISTANT_TEXT
    key = env["RESPAN_API_KEY"]
    reqs = router.requests()
    posts = [r for r in reqs if r.method == "POST" and r.url_path == "/api/responses"]
    assert len(posts) == 1, describe(result, {"router": router}, log)
    assert posts[0].json()["stream"] is True and posts[0].status == 200
    for req in reqs:
        assert req.url_path.startswith("/api/"), req.path
        assert credentials(req) == [("authorization", f"Bearer {key}")], credentials(req)
        blob = json.dumps(req.headers).encode() + req.path.encode() + req.body
        assert own_key.encode() not in blob, req.path
    records = [r for r in read_log(log, type="request") if r["method"] == "POST"
               and (r.get("routed_url") or "").endswith("/api/responses")]
    assert len(records) == 1, read_log(log)
    rq = records[0]
    assert rq["provider"] == "openai" and rq["routed"] is True
    [rs] = [r for r in read_log(log, type="response") if r["id"] == rq["id"]]
    assert rs["status"] == 200 and rs["sse"] is True and rs["error"] is None
    assert rs["output_text"] == ASSISTANT_TEXT
    assert rs["usage"]["input_tokens"] == INPUT_TOKENS
    assert rs["usage"]["output_tokens"] == OUTPUT_TOKENS
    assert_no_secrets(log, key, own_key)
    if mode == "ld_preload":
        assert relay_processes(env) == []


@pytest.mark.parametrize("mode", ["ld_preload", "respan_run"])
def test_works_with_and_without_the_library(mode, codex_cli, respan_cli, respan_env, router,
                                            pki, tmp_path):
    """The issue's measure: `codex exec "say hi"` as installed, with
    CODEX_API_KEY, behind the user's own CONNECT proxy (which sends every
    host to one stand-in for api.openai.com and chatgpt.com). Without the
    library it reaches OpenAI and prints the answer; with it, the same
    command prints the same answer, the model call made to the Respan router
    with the Respan key. The other hosts still go through the user's proxy
    (the relay passes them on), never with the Respan key, and the proxy
    never sees api.openai.com."""
    cert, cert_key = make_named_cert(pki, "codex_hosts", PROVIDER_NAMES + ("chatgpt.com",))
    own_key = make_secret("sk-proj-")
    with Router(cert, cert_key, base_path="/v1/",
                record=str(tmp_path / "openai.jsonl")) as openai, Proxy() as proxy:
        proxy.routes = Everywhere(("127.0.0.1", openai.port))
        bare = codex_env(tmp_path / "bare", codex_cli, CODEX_API_KEY=own_key,
                         SSL_CERT_FILE=pki["ca"], HTTPS_PROXY=proxy.url)
        alone = run_codex(exec_argv(), bare, tmp_path / "bare" / "work")
        print(describe(alone, {"openai": openai}))
        assert answer(alone) == ASSISTANT_TEXT
        check_model_calls([r for r in openai.requests() if r.sni == "api.openai.com"],
                          "/v1/", own_key)

        openai.clear()
        proxy.clear()
        env = codex_env(tmp_path, codex_cli, base=respan_env, CODEX_API_KEY=own_key,
                        SSL_CERT_FILE=pki["ca"], HTTPS_PROXY=proxy.url)
        argv = under_library(mode, exec_argv(), env, respan_cli)
        result = run_codex(argv, env, tmp_path / "work")
        print(describe(result, {"openai": openai, "router": router}, env["RESPAN_LOG"]))
        connects = [target for target, _ in proxy.connects()]
        others = openai.requests()
    assert answer(result) == answer(alone)
    check_model_calls(router.requests(), "/api/", env["RESPAN_API_KEY"])
    assert "chatgpt.com:443" in connects, connects
    assert "api.openai.com:443" not in connects, connects
    for req in others:
        assert req.sni != "api.openai.com", req.path
        blob = json.dumps(req.headers).encode() + req.path.encode() + req.body
        assert env["RESPAN_API_KEY"].encode() not in blob, req.path
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], own_key)


def test_doctor_describes_it(codex_cli, respan_cli, respan_env, tmp_path):
    """`respan doctor $(which codex)` names the CLI and says how it is routed:
    its static binary through HTTPS_PROXY, not by base-URL variables."""
    env = dict(respan_env)
    env.pop("LD_PRELOAD")
    done = subprocess.run([respan_cli, "doctor", codex_cli.bin], env=env,
                          capture_output=True, timeout=60)
    out = done.stdout.decode()
    print(out, done.stderr.decode())
    assert "the Codex CLI, @openai/codex" in out
    assert "HTTPS_PROXY" in out
    verdict = [l for l in out.splitlines() if l.startswith("verdict: ")]
    assert verdict == ["verdict: routed by interception, logged by the library's relay "
                       "(the Codex CLI: its static binary uses the relay as HTTPS_PROXY)"]


@pytest.mark.parametrize("mode", ["ld_preload", "respan_run"])
def test_without_interception_it_works_unrouted_and_says_so(mode, codex_cli, respan_cli,
                                                           respan_env, router, pki, tmp_path):
    """RESPAN_INTERCEPT=off: nothing can route the static binary, so nothing
    is set for it. Codex works as without the library (here through the
    user's CONNECT proxy to a stand-in for OpenAI, with the user's key), the
    router gets nothing, and a not_routed event says why: never silently
    unrouted, never broken."""
    cert, cert_key = make_named_cert(pki, "codex_hosts", PROVIDER_NAMES + ("chatgpt.com",))
    own_key = make_secret("sk-proj-")
    with Router(cert, cert_key, base_path="/v1/",
                record=str(tmp_path / "openai.jsonl")) as openai, Proxy() as proxy:
        proxy.routes = Everywhere(("127.0.0.1", openai.port))
        env = codex_env(tmp_path, codex_cli, base=respan_env, CODEX_API_KEY=own_key,
                        SSL_CERT_FILE=pki["ca"], HTTPS_PROXY=proxy.url,
                        RESPAN_INTERCEPT="off")
        argv = under_library(mode, exec_argv(), env, respan_cli)
        result = run_codex(argv, env, tmp_path / "work")
        print(describe(result, {"openai": openai, "router": router}, env["RESPAN_LOG"]))
        connects = [target for target, _ in proxy.connects()]
        check_model_calls([r for r in openai.requests() if r.sni == "api.openai.com"],
                          "/v1/", own_key)
    assert answer(result) == ASSISTANT_TEXT
    assert "api.openai.com:443" in connects, connects
    assert router.requests() == []
    events = [e for e in read_log(env["RESPAN_LOG"], type="event")
              if e["event"] == "not_routed"]
    assert len(events) == 1, read_log(env["RESPAN_LOG"])
    assert events[0]["host"] == "api.openai.com"
    assert "RESPAN_INTERCEPT=off" in events[0]["detail"], events[0]
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], own_key)
