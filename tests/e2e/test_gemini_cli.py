"""The Gemini CLI under librespan: `LD_PRELOAD=librespan.so gemini -p "say hi"`.

@google/gemini-cli 0.61.0 is an esbuild bundle run by the system's node
(nodesource Node 20: OpenSSL compiled in, so no TLS layer of the library
sees it). `gemini` first runs itself again as a child node process
(`node --max-old-space-size=N .../gemini -p ...`, GEMINI_CLI_NO_RELAUNCH=true),
and that child does the work. For `-p "say hi"` it sends two requests, both
through the @google/genai SDK with the key in `x-goog-api-key`:

1. `POST {gemini base}/v1beta/models/gemini-3.5-flash-lite:generateContent`:
   its model-routing classifier, generationConfig.responseMimeType
   application/json with a responseJsonSchema ({complexity_reasoning,
   complexity_score}). An answer whose text is not JSON is retried with
   backoff (the stand-in router answers such requests with an object that
   fits the schema);
2. `POST {gemini base}/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse`:
   the turn itself, streamed; the CLI prints the merged text.

No countTokens. Its usage statistics go to play.googleapis.com (not a
provider host); the tests turn them off in the settings file.

Why GOOGLE_GEMINI_BASE_URL breaks it. In 0.61, with no
`security.auth.selectedType` in the settings, getAuthTypeFromEnv() answers
"gateway" when the variable is set (a base URL in the environment wins over
GEMINI_API_KEY), and the headless start-up check (validateNonInteractiveAuth
-> validateAuthMethod) knows only oauth-personal,
compute-default-credentials, gemini-api-key and vertex-ai: `Invalid auth
method selected.`, exit 41, before any request.
test_base_url_alone_selects_gateway_auth shows it without the library.

So layer 1 recognises the CLI (the script node runs is under
node_modules/@google/gemini-cli/, preload/envlayer.h ENVLAYER_GEMINI_CLI)
and, where the library's relay intercepts, sets no GOOGLE_GEMINI_BASE_URL
(taking back one an ancestor's layer 1 set): the CLI calls
generativelanguage.googleapis.com by URL and the relay routes it
(test_preload_gemini_print_is_routed_and_logged). A user whose settings
select `gemini-api-key` is routed either way
(test_preload_with_settings_file). Under `respan run` its relay intercepts
in the same way (test_respan_run_gemini_print_is_routed_and_logged).

Each client runs with an environment built from scratch (the shell running
the tests exports SSL_CERT_FILE, NODE_EXTRA_CA_CERTS and others), HOME,
TMPDIR and the working directory inside the test's tmp_path, and
GEMINI_CLI_TRUST_WORKSPACE=true (headless runs refuse an untrusted folder,
exit 55). The CLI is installed once from node/gemini-cli/package.json into
.cache/node (node_fixtures.py); without npm or the registry the tests are
skipped.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from node_fixtures import gemini_cli  # noqa: F401  (fixture)
from standin.helpers import (assert_no_secrets, clean_env, make_secret, program_answer,
                             read_log, relay_processes, request_credentials, run_with_pid,
                             under_library)
from standin.certs import make_named_cert
from standin.proxy import Everywhere, Proxy
from standin.router import ASSISTANT_TEXT, INPUT_TOKENS, OUTPUT_TOKENS, Router

PROMPT = "say hi"
TIMEOUT = 120
GEMINI_PREFIX = "/api/google/gemini/"
VERTEX_PREFIX = "/api/google/vertexai/"
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
PROVIDER_HOSTS = {"api.anthropic.com", "api.openai.com",
                  "generativelanguage.googleapis.com", "aiplatform.googleapis.com"}
EXIT_AUTH = 41     # the CLI's FATAL_AUTHENTICATION_ERROR

# --------------------------------------------------------------------------
# Running it


def write_settings(home: Path, auth: str | None = None) -> Path:
    """~/.gemini/settings.json with usage statistics off (no calls to
    play.googleapis.com) and, with AUTH, security.auth.selectedType."""
    settings = {"privacy": {"usageStatisticsEnabled": False}}
    if auth:
        settings["security"] = {"auth": {"selectedType": auth}}
    path = home / ".gemini" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return path


def cli_env(base: dict, tmp_path: Path, provider_key: str, auth: str | None = None) -> dict:
    """BASE plus what every Gemini CLI run here gets: GEMINI_API_KEY, a
    trusted workspace, TMPDIR in tmp_path (its error reports go there), and a
    settings file in HOME."""
    env = dict(base)
    env["GEMINI_API_KEY"] = provider_key
    env["GEMINI_CLI_TRUST_WORKSPACE"] = "true"
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    (tmp_path / "work").mkdir(exist_ok=True)
    write_settings(Path(env["HOME"]), auth)
    return env


def gemini_argv(gemini_cli) -> list:
    return [gemini_cli.bin, "-p", PROMPT]


def run_gemini(argv: list, env: dict, tmp_path: Path):
    """Run the CLI with exactly ENV in tmp_path/work; (CompletedProcess, pid)."""
    return run_with_pid(argv, env, cwd=tmp_path / "work", timeout=TIMEOUT)


def answer(done: subprocess.CompletedProcess) -> str:
    return program_answer("gemini", done)


def credentials(req) -> list:
    return request_credentials(req, CREDENTIAL_HEADERS)


def describe(done, router, log_path=None) -> str:
    """What happened, for -s runs and failure messages (keys masked)."""
    lines = [f"exit {done.returncode}; stdout {done.stdout.decode(errors='replace').strip()!r}"]
    lines += [f"router: {r.method} {r.path} -> {r.status} ({r.route}) sni={r.sni} "
              f"creds={[(n, v[:6] + '...') for n, v in credentials(r)]} body={len(r.body)} bytes"
              for r in router.requests()]
    if log_path is not None:
        for rec in read_log(log_path):
            rec = {k: v for k, v in rec.items() if k not in ("headers", "body", "body_base64")}
            lines.append(f"log: {json.dumps(rec)[:400]}")
    lines.append("stderr: " + done.stderr.decode(errors="replace")[-1500:])
    return "\n".join(lines)


def check_router_traffic(router, prefix: str, key: str, *other_secrets: str) -> list:
    """Every request the router got is under PREFIX and carries KEY as its one
    credential (x-goog-api-key, the style the CLI uses), and none of
    OTHER_SECRETS; the classifier call (JSON asked for) comes first, then the
    streamed turn. Returns the requests."""
    reqs = router.requests()
    assert reqs, "the Gemini CLI sent the router nothing"
    for req in reqs:
        assert req.method == "POST" and req.url_path.startswith(prefix), (req.method, req.path)
        assert credentials(req) == [("x-goog-api-key", key)], \
            (req.path, [(n, v[:6]) for n, v in credentials(req)])
        blob = json.dumps(req.headers).encode() + req.path.encode() + req.body
        for s in other_secrets:
            assert s.encode() not in blob, f"{s[:6]}... reached the router: {req.path}"
        assert req.status == 200, (req.path, req.status)
    first = reqs[0]
    assert first.url_path.endswith(":generateContent"), first.path
    assert first.json()["generationConfig"]["responseMimeType"] == "application/json"
    streams = [r for r in reqs if r.url_path.endswith(":streamGenerateContent")]
    assert streams, [r.path for r in reqs]
    for s in streams:
        assert s.query.get("alt") == ["sse"], s.path
        assert s.json()["contents"][-1]["parts"][-1]["text"] == PROMPT
    return reqs


def check_relay_log(log, router_reqs, provider: str = "gemini") -> None:
    """One relay request record per request the router got, each with its
    response: routed to the router, the stream merged into output_text,
    usage; no key anywhere."""
    requests = [r for r in read_log(log, type="request")
                if r.get("layer") == "relay" and r.get("method") == "POST"]
    assert len(requests) == len(router_reqs), read_log(log)
    responses = {r["id"]: r for r in read_log(log, type="response")}
    for rq in requests:
        assert rq["provider"] == provider and rq["routed"] is True, rq
        assert "/api/google/" in rq["routed_url"], rq["routed_url"]
        assert dict((n.lower(), v) for n, v in rq["headers"]).get("x-goog-api-key") == \
            "[REDACTED]", rq["headers"]
        rs = responses[rq["id"]]
        assert rs["status"] == 200 and rs["error"] is None, rs
        assert rs["usage"]["input_tokens"] == INPUT_TOKENS, rs["usage"]
        assert rs["usage"]["output_tokens"] == OUTPUT_TOKENS, rs["usage"]
        if ":streamGenerateContent" in rq["routed_url"]:
            assert rs["sse"] is True
            assert rs["output_text"] == ASSISTANT_TEXT
        else:                       # the classifier: a JSON object as its text
            assert isinstance(json.loads(rs["output_text"]), dict), rs["output_text"]
    assert any(":streamGenerateContent" in r["routed_url"] for r in requests)


def egress_events(log_path) -> list:
    return [e for e in read_log(log_path, type="event")
            if e.get("event") in ("bypass", "blocked", "not_routed", "relay_error")]


@pytest.fixture
def provider_key() -> str:
    """A fake Gemini API key: what GEMINI_API_KEY holds."""
    return make_secret("AIza")


@pytest.fixture
def gemini_env(respan_env, tmp_path, provider_key) -> dict:
    """respan_env (LD_PRELOAD, RESPAN_*, a fresh HOME) for the Gemini CLI,
    with GEMINI_API_KEY set and no auth type in its settings: a new user."""
    return cli_env(respan_env, tmp_path, provider_key)


# --------------------------------------------------------------------------
# Without the library: what the CLI itself does


def test_standin_answers_without_library(gemini_cli, router, pki, tmp_path, provider_key):
    """The CLI pointed at the stand-in router by its own documented means
    (settings selecting gemini-api-key, GOOGLE_GEMINI_BASE_URL, the router's
    CA in NODE_EXTRA_CA_CERTS) finishes `-p "say hi"` and prints the answer:
    the stand-in speaks enough of the protocol, classifier included."""
    env = cli_env(clean_env(tmp_path / "home"), tmp_path, provider_key, auth="gemini-api-key")
    env["GOOGLE_GEMINI_BASE_URL"] = router.url_for("localhost") + "google/gemini"
    env["NODE_EXTRA_CA_CERTS"] = pki["ca"]
    done, _ = run_gemini(gemini_argv(gemini_cli), env, tmp_path)
    print(describe(done, router))
    assert answer(done) == ASSISTANT_TEXT
    reqs = check_router_traffic(router, GEMINI_PREFIX, provider_key)
    assert [r.url_path.rsplit(":", 1)[1] for r in reqs] == \
        ["generateContent", "streamGenerateContent"]


def test_base_url_alone_selects_gateway_auth(gemini_cli, router, pki, tmp_path, provider_key):
    """The cause, without the library: GEMINI_API_KEY plus
    GOOGLE_GEMINI_BASE_URL and no auth type in the settings is refused at
    start-up, before any request."""
    env = cli_env(clean_env(tmp_path / "home"), tmp_path, provider_key)
    env["GOOGLE_GEMINI_BASE_URL"] = router.url_for("localhost") + "google/gemini"
    env["NODE_EXTRA_CA_CERTS"] = pki["ca"]
    done, _ = run_gemini(gemini_argv(gemini_cli), env, tmp_path)
    print(describe(done, router))
    assert done.returncode == EXIT_AUTH
    assert b"Invalid auth method selected." in done.stderr
    assert router.requests() == []


# --------------------------------------------------------------------------
# With the library: checks


def check_routed_and_logged(done, gemini_env, router, provider_key, relay_gone=True) -> list:
    """The CLI answered from the router's Gemini passthrough with the Respan
    key (its own key nowhere), the log has each exchange whole, no egress
    event, no key; returns the request records."""
    log = gemini_env["RESPAN_LOG"]
    print(describe(done, router, log))
    assert answer(done) == ASSISTANT_TEXT
    reqs = check_router_traffic(router, GEMINI_PREFIX, gemini_env["RESPAN_API_KEY"],
                                provider_key)
    check_relay_log(log, reqs)
    assert egress_events(log) == []
    if relay_gone:
        assert relay_processes(gemini_env) == []
    assert_no_secrets(log, gemini_env["RESPAN_API_KEY"], provider_key)
    return read_log(log, type="request")


def test_preload_with_settings_file(gemini_cli, gemini_env, router, tmp_path, provider_key):
    """A user whose settings select gemini-api-key (what the CLI's own auth
    dialog writes): layer 1's GOOGLE_GEMINI_BASE_URL is then just a base URL,
    and the library's relay routes and logs both calls."""
    write_settings(Path(gemini_env["HOME"]), "gemini-api-key")
    done, _ = run_gemini(gemini_argv(gemini_cli), gemini_env, tmp_path)
    check_routed_and_logged(done, gemini_env, router, provider_key)


@pytest.mark.parametrize("how", ["preload", "respan run"])
def test_vertex_mode_reaches_vertex_passthrough(how, gemini_cli, gemini_env, router, tmp_path,
                                                respan_cli, provider_key):
    """GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT/LOCATION: the
    CLI's auth type is vertex-ai whatever the base URL says, so layer 1 does
    not break it. It reaches {base}google/vertexai/ with the Respan key. (Layer
    1's GOOGLE_API_KEY makes the SDK use Vertex AI express mode:
    v1beta1/publishers/google/models/M, the key in x-goog-api-key, instead of
    the project's Application Default Credentials.)"""
    gemini_env.update(GOOGLE_GENAI_USE_VERTEXAI="true", GOOGLE_CLOUD_PROJECT="respan-test",
                      GOOGLE_CLOUD_LOCATION="us-central1")
    argv = under_library(how, gemini_argv(gemini_cli), gemini_env, respan_cli)
    done, _ = run_gemini(argv, gemini_env, tmp_path)
    log = gemini_env["RESPAN_LOG"]
    print(describe(done, router, log))
    assert answer(done) == ASSISTANT_TEXT
    reqs = check_router_traffic(router, VERTEX_PREFIX, gemini_env["RESPAN_API_KEY"],
                                provider_key)
    for req in reqs:
        assert "/publishers/google/models/" in req.url_path, req.path
    check_relay_log(log, reqs, provider="vertexai")
    assert_no_secrets(log, gemini_env["RESPAN_API_KEY"], provider_key)


# --------------------------------------------------------------------------
# With the library: a new user's `gemini -p`


def test_preload_gemini_print_is_routed_and_logged(gemini_cli, gemini_env, router, tmp_path,
                                                   provider_key):
    """`LD_PRELOAD=librespan.so gemini -p "say hi"` with GEMINI_API_KEY set and
    no settings: answers from the router's Gemini passthrough with the Respan
    key, GEMINI_API_KEY's value never sent, and the log holds both exchanges
    (stream merged, usage)."""
    done, pid = run_gemini(gemini_argv(gemini_cli), gemini_env, tmp_path)
    reqs = check_routed_and_logged(done, gemini_env, router, provider_key)
    # Routed by interception: the URL is the provider's own (no base URL set).
    urls = [r["url"] for r in reqs]
    assert urls and all(u.startswith("https://generativelanguage.googleapis.com/v1beta/models/")
                        for u in urls), urls


def test_respan_run_gemini_print_is_routed_and_logged(gemini_cli, respan_cli, gemini_env,
                                                      router, tmp_path, provider_key):
    """`respan run -- gemini -p "say hi"`: the same, through respan run's relay,
    which intercepts for the library in node as the library's own does
    (hooks/lazyrelay.h); respan run's GOOGLE_GEMINI_BASE_URL is taken back."""
    argv = under_library("respan run", gemini_argv(gemini_cli), gemini_env, respan_cli)
    done, _ = run_gemini(argv, gemini_env, tmp_path)
    reqs = check_routed_and_logged(done, gemini_env, router, provider_key, relay_gone=False)
    urls = [r["url"] for r in reqs]
    assert urls and all(u.startswith("https://generativelanguage.googleapis.com/v1beta/models/")
                        for u in urls), urls


@pytest.mark.parametrize("how", ["preload", "respan run"])
def test_works_with_and_without_the_library(how, gemini_cli, respan_cli, gemini_env, router,
                                            pki, tmp_path, provider_key):
    """The issue's measure, for a new user (GEMINI_API_KEY, no settings):
    without the library `gemini -p "say hi"` reaches Google (here a stand-in
    for generativelanguage.googleapis.com that a CONNECT proxy sends every
    host to, as a network would) and prints the answer; with it, the same
    command prints the same answer with the same calls, made to the Respan
    router instead."""
    cert, cert_key = make_named_cert(pki, "google_hosts")
    with Router(cert, cert_key, base_path="/", record=str(tmp_path / "google.jsonl")) as google, \
            Proxy() as proxy:
        proxy.routes = Everywhere(("127.0.0.1", google.port))
        (tmp_path / "bare").mkdir()
        bare = cli_env(clean_env(tmp_path / "bare" / "home"), tmp_path / "bare", provider_key)
        bare.update(HTTPS_PROXY=proxy.url, NODE_EXTRA_CA_CERTS=pki["ca"])
        alone, _ = run_gemini(gemini_argv(gemini_cli), bare, tmp_path / "bare")
        print(describe(alone, google))
        without = check_router_traffic(google, "/v1beta/models/", provider_key)
        assert {t for t, _ in proxy.connects()} == {"generativelanguage.googleapis.com:443"}

    argv = under_library(how, gemini_argv(gemini_cli), gemini_env, respan_cli)
    done, _ = run_gemini(argv, gemini_env, tmp_path)
    check_routed_and_logged(done, gemini_env, router, provider_key, relay_gone=how == "preload")
    assert answer(alone) == answer(done) == ASSISTANT_TEXT
    calls = [r.url_path.rsplit(":", 1)[1] for r in router.requests()]
    assert calls == [r.url_path.rsplit(":", 1)[1] for r in without], calls


@pytest.mark.parametrize("how", ["preload", "respan run"])
def test_without_interception_it_stops_and_says_why(how, gemini_cli, respan_cli, gemini_env,
                                                    router, pki, tmp_path, provider_key):
    """RESPAN_INTERCEPT=off: nothing can route the CLI (a base URL would
    switch its auth mode), so nothing of ours is left for Google and a
    not_routed event says why. The `env` of its #! line has already replaced
    GEMINI_API_KEY by the Respan key (layer 1 runs in every process), which
    the CLI's library takes back: the CLI stops at once, asking for a key,
    rather than send the Respan key to Google or retry for minutes. A
    CONNECT proxy to a stand-in for Google sees nothing."""
    cert, cert_key = make_named_cert(pki, "google_hosts")
    with Router(cert, cert_key, base_path="/", record=str(tmp_path / "google.jsonl")) as google, \
            Proxy() as proxy:
        proxy.routes = Everywhere(("127.0.0.1", google.port))
        gemini_env.update(HTTPS_PROXY=proxy.url, NODE_EXTRA_CA_CERTS=pki["ca"],
                          RESPAN_INTERCEPT="off")
        argv = under_library(how, gemini_argv(gemini_cli), gemini_env, respan_cli)
        started = time.monotonic()
        done = subprocess.run(argv, env=gemini_env, cwd=tmp_path / "work", capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        took = time.monotonic() - started
        log = gemini_env["RESPAN_LOG"]
        print(f"{took:.1f} s", describe(done, google, log))
        assert google.requests() == [] and proxy.connects() == []
    assert done.returncode == EXIT_AUTH and b"GEMINI_API_KEY" in done.stderr
    assert took < 30
    assert router.requests() == []
    events = read_log(log, type="event")
    why = [e for e in events if e["event"] == "not_routed"]
    assert why and all(e["host"] == "generativelanguage.googleapis.com" and
                       "RESPAN_INTERCEPT=off" in e["detail"] for e in why), events
    assert any("was taken back" in e["detail"] for e in why), why
    assert_no_secrets(log, gemini_env["RESPAN_API_KEY"], provider_key)


@pytest.mark.parametrize("intercept", ["auto", "off"])
def test_doctor_describes_it(intercept, gemini_cli, respan_cli, respan_env, tmp_path):
    """`respan doctor $(which gemini)` names the CLI and says what the library
    does to it: no base URL, routed by interception; with
    RESPAN_INTERCEPT=off, not routed (never broken)."""
    env = dict(respan_env, RESPAN_INTERCEPT=intercept)
    env.pop("LD_PRELOAD")
    done = subprocess.run([respan_cli, "doctor", gemini_cli.bin], env=env,
                          capture_output=True, timeout=60)
    out = done.stdout.decode()
    print(out, done.stderr.decode())
    assert "known client" in out and "the Gemini CLI, @google/gemini-cli" in out
    assert "GOOGLE_GEMINI_BASE_URL is not set" in out
    verdict = [l for l in out.splitlines() if l.startswith("verdict: ")]
    assert len(verdict) == 1, out
    if intercept == "auto":
        assert verdict[0].startswith("verdict: routed by interception"), verdict
    else:
        assert verdict[0].startswith("verdict: not routed (the Gemini CLI"), verdict
