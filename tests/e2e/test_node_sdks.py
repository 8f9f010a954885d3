"""Node programs under librespan: the OpenAI, Anthropic and Google Gen AI SDKs.

nodesource Node has OpenSSL compiled in, so librespan cannot take over its
TLS. What reaches such a program is docs/contract.md#layers layer 1: at load the
library sets the SDK variables (OPENAI_BASE_URL, ANTHROPIC_BASE_URL,
GOOGLE_GEMINI_BASE_URL, the keys, NODE_EXTRA_CA_CERTS) so that the SDKs
themselves call the router. The client scripts (node/*.mjs) have no base URL
or key of their own. Also here: the egress audit (a raw TLS connection with
a provider name in its SNI is a `bypass` event, refused under
RESPAN_FAIL=closed), and `respan run`, whose loopback relay copies the
traffic to the log (layer "relay").

The SDKs are installed once from node/package.json into .cache/node (see
node_fixtures.py); without Node, npm or the registry the tests are skipped.

RESPAN_E2E_SIMULATE_LAYER1=1 runs the tests without the library, with
simulate_layer1() below setting the variables the way docs/contract.md#layers says the
library does: a check of the tests themselves, not of librespan. Tests that
need the library itself (the audit, `respan run`) are skipped then.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from node_fixtures import node_sdks  # noqa: F401  (fixture)
from standin.helpers import (USERS_OWN_BASE_URL, assert_no_secrets, make_secret, read_log,
                             run_with_pid)
from standin.router import ASSISTANT_TEXT, INPUT_TOKENS, OUTPUT_TOKENS, Router

SIMULATE = os.environ.get("RESPAN_E2E_SIMULATE_LAYER1") == "1"
NODE_TIMEOUT = 60

PROVIDER_HOSTS = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "gemini": "generativelanguage.googleapis.com",
}

# Per SDK: the script, the base-URL variable, where a routed call lands on
# the router (path under its base), and how the Respan key must arrive.
SDKS = {
    "openai": dict(script="openai_chat.mjs", base_var="OPENAI_BASE_URL",
                   key_vars=("OPENAI_API_KEY",), suffix="",
                   path=r"chat/completions", cred=("authorization", "Bearer {key}")),
    "anthropic": dict(script="anthropic_messages.mjs", base_var="ANTHROPIC_BASE_URL",
                      key_vars=("ANTHROPIC_API_KEY",), suffix="anthropic/",
                      path=r"anthropic/v1/messages",
                      cred=("authorization", "Bearer {key}")),
    "gemini": dict(script="genai_generate.mjs", base_var="GOOGLE_GEMINI_BASE_URL",
                   key_vars=("GEMINI_API_KEY", "GOOGLE_API_KEY"), suffix="google/gemini",
                   path=r"google/gemini/v1(beta)?/models/gemini-2\.0-flash:{method}",
                   cred=("x-goog-api-key", "{key}")),
}
CASES = [(sdk, mode) for sdk in SDKS for mode in ("plain", "stream")]
CASE_IDS = [f"{sdk}-{mode}" for sdk, mode in CASES]

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key",
                      "proxy-authorization")


# --------------------------------------------------------------------------
# Helpers


def simulate_layer1(env: dict) -> dict:
    """What docs/contract.md#layers layer 1 does to ENV, in Python (RESPAN_E2E_SIMULATE_LAYER1)."""
    env = dict(env)
    env.pop("LD_PRELOAD", None)
    key, base = env.get("RESPAN_API_KEY"), env.get("RESPAN_BASE_URL")
    if not key or env.get("RESPAN_MODE", "route") != "route":
        return env

    def ours(var, host):
        v = env.get(var)
        return not v or urlsplit(v).hostname == host

    if ours("OPENAI_BASE_URL", "api.openai.com"):
        env["OPENAI_BASE_URL"] = base
        env["OPENAI_API_KEY"] = key
    if ours("ANTHROPIC_BASE_URL", "api.anthropic.com"):
        env["ANTHROPIC_BASE_URL"] = base + "anthropic/"
        env["ANTHROPIC_AUTH_TOKEN"] = key
        env.pop("ANTHROPIC_API_KEY", None)
    if ours("GOOGLE_GEMINI_BASE_URL", "generativelanguage.googleapis.com"):
        env["GOOGLE_GEMINI_BASE_URL"] = base + "google/gemini"
        env["GEMINI_API_KEY"] = env["GOOGLE_API_KEY"] = key
    if env.get("RESPAN_CA_FILE"):
        user = env.get("NODE_EXTRA_CA_CERTS")
        if user and user != env["RESPAN_CA_FILE"]:   # both: a merged bundle
            bundle = Path(env["HOME"]) / "simulated-node-ca.pem"
            bundle.write_bytes(Path(user).read_bytes() + b"\n" +
                               Path(env["RESPAN_CA_FILE"]).read_bytes())
            env["NODE_EXTRA_CA_CERTS"] = str(bundle)
        else:
            env["NODE_EXTRA_CA_CERTS"] = env["RESPAN_CA_FILE"]
    return env


def run_node(argv: list, env: dict, cwd, timeout: float = NODE_TIMEOUT):
    """Run a Node client with exactly ENV; (CompletedProcess, pid)."""
    if SIMULATE:
        env = simulate_layer1(env)
    return run_with_pid(argv, env, cwd=cwd, timeout=timeout)


def text_of(done: subprocess.CompletedProcess) -> str:
    return done.stdout.decode(errors="replace").strip()


def ok(done: subprocess.CompletedProcess) -> str:
    """stdout of a client that must have succeeded."""
    assert done.returncode == 0, (
        f"{Path(done.args[1]).name} exited {done.returncode}\n"
        f"stdout:\n{done.stdout.decode(errors='replace')[-2000:]}\n"
        f"stderr:\n{done.stderr.decode(errors='replace')[-3000:]}")
    return text_of(done)


def credentials(req) -> list:
    """Every credential a request carried: [(header, value)] plus key= params."""
    found = [(n.lower(), v) for n, v in req.headers if n.lower() in CREDENTIAL_HEADERS]
    found += [("key=", v) for v in req.query.get("key", [])]
    return found


def assert_routed_request(req, sdk: str, mode: str, key: str, base_path="/api/") -> None:
    """REQ is SDK's call, on the router's path, carrying KEY and nothing else."""
    spec = SDKS[sdk]
    method = "streamGenerateContent" if mode == "stream" else "generateContent"
    pattern = re.escape(base_path) + spec["path"].format(method=method)
    assert req.method == "POST"
    assert re.fullmatch(pattern, req.url_path), f"{req.path} does not match {pattern}"
    name, value = spec["cred"]
    assert credentials(req) == [(name, value.format(key=key))], \
        f"credentials sent: {credentials(req)}"
    if sdk in ("openai", "anthropic"):
        assert bool(req.json().get("stream")) == (mode == "stream")


def assert_nothing_contains(requests, *secrets: str) -> None:
    """No header or body of REQUESTS contains any of SECRETS."""
    for req in requests:
        blob = json.dumps(req.headers).encode() + b"\n" + req.path.encode() + b"\n" + req.body
        for s in secrets:
            assert s.encode() not in blob, f"{s[:6]}... reached {req.path}"


def audit_events(log_path, *kinds: str) -> list:
    return [e for e in read_log(log_path, type="event") if e.get("event") in kinds]


def host_is(event: dict, host: str) -> bool:
    h = str(event.get("host") or "")
    return h == host or h.startswith(host + ":")


def needs_library(what: str):
    if SIMULATE:
        pytest.skip(f"{what} needs librespan itself (RESPAN_E2E_SIMULATE_LAYER1=1)")


def check_relay_records(env: dict, sdk: str, mode: str) -> None:
    """The log holds the relay's one request and response for SDK's call:
    routed, the answer merged into output_text, usage, no key."""
    log = env["RESPAN_LOG"]
    requests = [r for r in read_log(log, type="request") if r.get("layer") == "relay"]
    assert len(requests) == 1, read_log(log)
    [rq] = requests
    assert rq["provider"] == sdk and rq["method"] == "POST"
    assert rq["routed"] is True
    assert Path(rq["exe"]).name.startswith("node"), rq["exe"]   # the program, not respan
    responses = [r for r in read_log(log, type="response") if r.get("id") == rq["id"]]
    assert len(responses) == 1, read_log(log)
    [rs] = responses
    assert rs["status"] == 200
    assert rs["output_text"] == ASSISTANT_TEXT
    assert rs["usage"]["input_tokens"] == INPUT_TOKENS
    assert rs["usage"]["output_tokens"] == OUTPUT_TOKENS
    assert rs["sse"] is (mode == "stream")
    assert rs.get("error") is None
    assert_no_secrets(log, env["RESPAN_API_KEY"])


@pytest.fixture
def env(respan_env) -> dict:
    """respan_env (LD_PRELOAD, RESPAN_*) for one Node client."""
    return dict(respan_env)


@pytest.fixture(scope="module")
def elsewhere(pki, tmp_path_factory):
    """A second stand-in router, base path /v1/: "somewhere else" that a
    user pointed an SDK at."""
    record = tmp_path_factory.mktemp("elsewhere") / "received.jsonl"
    r = Router(pki["cert"], pki["key"], host="127.0.0.1", base_path="/v1/",
               record=str(record)).start()
    yield r
    r.stop()


# --------------------------------------------------------------------------
# Layer 1: the variables


def test_env_layer_sets_sdk_variables(node_sdks, env, router, pki):
    """node has TLS compiled in: the base URLs name the library's relay by
    its stand-in address (RESPAN_RELAY, plain HTTP), node trusts the
    interception CA, and nothing is started until the first call."""
    done, _ = run_node(node_sdks.argv("env_dump.mjs"), env, node_sdks.dir)
    got = json.loads(ok(done))
    base, key = got["RESPAN_RELAY"], env["RESPAN_API_KEY"]
    assert re.fullmatch(r"http://127\.(1[2-9][0-9]|2[0-5][0-9])(\.[0-9]{1,3}){2}:[0-9]+/api/",
                        base), base
    assert got["OPENAI_BASE_URL"] == base
    assert got["OPENAI_API_KEY"] == key
    assert got["ANTHROPIC_BASE_URL"] == base + "anthropic/"
    assert got["ANTHROPIC_AUTH_TOKEN"] == key
    assert got["ANTHROPIC_API_KEY"] is None
    assert got["GOOGLE_GEMINI_BASE_URL"] == base + "google/gemini"
    assert got["GEMINI_API_KEY"] == key and got["GOOGLE_API_KEY"] == key
    # Not RESPAN_CA_FILE (the relay speaks to the router): the interception CA.
    assert got["NODE_EXTRA_CA_CERTS"].endswith("/respan/ca/ca.pem")
    assert router.requests() == []


@pytest.mark.parametrize("change", ["capture", "no-key"])
def test_env_layer_only_in_route_mode_with_key(node_sdks, env, change):
    if change == "capture":
        env["RESPAN_MODE"] = "capture"
    else:
        del env["RESPAN_API_KEY"]
    env["ANTHROPIC_API_KEY"] = provider_key = make_secret("sk-ant-api03-")
    done, _ = run_node(node_sdks.argv("env_dump.mjs"), env, node_sdks.dir)
    got = json.loads(ok(done))
    assert got["ANTHROPIC_API_KEY"] == provider_key
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL",
                "ANTHROPIC_AUTH_TOKEN", "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY",
                "GOOGLE_API_KEY"):
        assert got[var] is None, f"{var} set to {got[var]!r} in {change} mode"


# --------------------------------------------------------------------------
# Each SDK reaches the router, streaming and not


@pytest.mark.parametrize("sdk,mode", CASES, ids=CASE_IDS)
def test_sdk_reaches_router(node_sdks, env, router, sdk, mode):
    args = ["stream"] if mode == "stream" else []
    done, _ = run_node(node_sdks.argv(SDKS[sdk]["script"], *args), env, node_sdks.dir)
    assert ok(done) == ASSISTANT_TEXT
    [req] = router.requests()
    assert_routed_request(req, sdk, mode, env["RESPAN_API_KEY"])
    assert req.sni == "localhost"      # the relay connected to the router by its name
    # The library started its relay: the full exchange is in the log.
    check_relay_records(env, sdk, mode)
    assert audit_events(env["RESPAN_LOG"], "bypass", "blocked") == []


@pytest.mark.parametrize("sdk", list(SDKS))
def test_sdk_reaches_router_under_fail_closed(node_sdks, env, router, sdk):
    env["RESPAN_FAIL"] = "closed"
    done, _ = run_node(node_sdks.argv(SDKS[sdk]["script"], "stream"), env, node_sdks.dir)
    assert ok(done) == ASSISTANT_TEXT
    [req] = router.requests()
    assert_routed_request(req, sdk, "stream", env["RESPAN_API_KEY"])
    assert audit_events(env["RESPAN_LOG"], "bypass", "blocked") == []


@pytest.mark.parametrize("sdk", list(SDKS))
def test_base_url_naming_provider_is_replaced(node_sdks, env, router, sdk):
    """A base URL that names the provider's own host counts as unset."""
    spec = SDKS[sdk]
    env[spec["base_var"]] = {
        "openai": "https://api.openai.com/v1",
        "anthropic": "https://api.anthropic.com",
        "gemini": "https://generativelanguage.googleapis.com",
    }[sdk]
    done, _ = run_node(node_sdks.argv(spec["script"]), env, node_sdks.dir)
    assert ok(done) == ASSISTANT_TEXT
    [req] = router.requests()
    assert_routed_request(req, sdk, "plain", env["RESPAN_API_KEY"])


@pytest.mark.parametrize("sdk", list(SDKS))
def test_own_base_url_is_left_alone(node_sdks, env, router, elsewhere, pki, sdk):
    """An SDK the user pointed elsewhere goes there, with the user's key;
    the Respan key goes nowhere near it."""
    elsewhere.clear()
    spec = SDKS[sdk]
    user_key = make_secret("sk-user-own-")
    env[spec["base_var"]] = elsewhere.url + spec["suffix"]   # https://127.0.0.1:P/v1/...
    env["NODE_EXTRA_CA_CERTS"] = pki["ca"]     # the user trusts their own endpoint
    for var in spec["key_vars"][:1]:
        env[var] = user_key
    done, _ = run_node(node_sdks.argv(spec["script"]), env, node_sdks.dir)
    assert ok(done) == ASSISTANT_TEXT
    assert router.requests() == []
    [req] = elsewhere.requests()
    # The user's own key, in whichever style the SDK uses (the Anthropic SDK
    # sends API keys as Bearer tokens too).
    [(_, value)] = credentials(req)
    assert value in (user_key, f"Bearer {user_key}"), credentials(req)
    assert re.fullmatch("/v1/" + spec["path"].format(method="generateContent"),
                        req.url_path), req.path
    assert_nothing_contains(elsewhere.requests(), env["RESPAN_API_KEY"])


def test_user_node_extra_ca_certs_still_trusted(node_sdks, env, router, pki):
    """A user's own NODE_EXTRA_CA_CERTS (as this machine's shell exports one)
    keeps working beside RESPAN_CA_FILE: OpenAI, pointed by the user at a
    server whose certificate only the user's CA signs, and Anthropic, routed
    to the router, both verify."""
    env["NODE_EXTRA_CA_CERTS"] = pki["wrong_ca"]
    env["OPENAI_API_KEY"] = user_key = make_secret("sk-user-own-")
    with Router(pki["wrong_cert"], pki["wrong_key"], host="127.0.0.1",
                base_path="/v1/") as own:
        env["OPENAI_BASE_URL"] = own.url
        done, _ = run_node(node_sdks.argv("openai_chat.mjs"), env, node_sdks.dir)
        assert ok(done) == ASSISTANT_TEXT
        [req] = own.requests()
        assert credentials(req) == [("authorization", f"Bearer {user_key}")]
    done, _ = run_node(node_sdks.argv("anthropic_messages.mjs"), env, node_sdks.dir)
    assert ok(done) == ASSISTANT_TEXT
    [req] = router.requests()
    assert_routed_request(req, "anthropic", "plain", env["RESPAN_API_KEY"])


@pytest.mark.parametrize("sdk,mode", [("anthropic", "plain"), ("anthropic", "stream"),
                                      ("openai", "plain"), ("gemini", "plain")],
                         ids=["anthropic-plain", "anthropic-stream", "openai", "gemini"])
def test_preset_provider_key_never_reaches_router(node_sdks, env, router, sdk, mode):
    keys = {"OPENAI_API_KEY": make_secret("sk-proj-"),
            "ANTHROPIC_API_KEY": make_secret("sk-ant-api03-"),
            "GEMINI_API_KEY": make_secret("AIzaSy"),
            "GOOGLE_API_KEY": make_secret("AIzaSy")}
    env.update(keys)
    args = ["stream"] if mode == "stream" else []
    done, _ = run_node(node_sdks.argv(SDKS[sdk]["script"], *args), env, node_sdks.dir)
    assert ok(done) == ASSISTANT_TEXT
    [req] = router.requests()
    assert_routed_request(req, sdk, mode, env["RESPAN_API_KEY"])
    assert_nothing_contains(router.requests(), *keys.values())
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], *keys.values())


# --------------------------------------------------------------------------
# The egress audit: a raw TLS connection with a provider name in its SNI.
# Offline, connecting to the name itself would fail in DNS before any
# ClientHello, so the connection goes to the local stand-in while the SNI
# says api.anthropic.com.


def test_raw_tls_to_provider_sni_is_a_bypass_event(node_sdks, env, router):
    """With the user's own Anthropic base URL, node does not hold the Respan
    key for Anthropic: an unrouted connection is let through as a bypass
    (with the key in ANTHROPIC_AUTH_TOKEN it would be refused: see
    test_layer1_audit.py)."""
    needs_library("the egress audit")
    env.update(USERS_OWN_BASE_URL["anthropic"])
    host = PROVIDER_HOSTS["anthropic"]
    done, pid = run_node(node_sdks.argv("tls_connect.mjs", "127.0.0.1", router.port, host),
                         env, node_sdks.dir)
    # Fail open: the connection goes as it is.
    assert ok(done).splitlines() == ["connected", "HTTP/1.1 200 OK"]
    [req] = router.requests()
    assert (req.sni, req.path) == (host, "/__health")
    events = audit_events(env["RESPAN_LOG"], "bypass", "blocked")
    assert [e["event"] for e in events] == ["bypass"], events
    [ev] = events
    assert host_is(ev, host), ev
    assert ev["pid"] == pid
    assert Path(ev["exe"]).name == "node", ev
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"])


def test_raw_tls_to_provider_sni_is_refused_when_fail_closed(node_sdks, env, router):
    needs_library("the egress audit")
    env.update(USERS_OWN_BASE_URL["anthropic"])
    env["RESPAN_FAIL"] = "closed"
    host = PROVIDER_HOSTS["anthropic"]
    done, pid = run_node(node_sdks.argv("tls_connect.mjs", "127.0.0.1", router.port, host),
                         env, node_sdks.dir)
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert b"connected" not in done.stdout
    assert done.stderr.startswith(b"error "), done.stderr
    assert [r for r in router.requests() if r.sni == host] == []
    events = audit_events(env["RESPAN_LOG"], "bypass", "blocked")
    assert [e["event"] for e in events] == ["blocked"], events
    assert host_is(events[0], host) and events[0]["pid"] == pid, events[0]


def test_raw_tls_to_other_sni_is_not_an_event(node_sdks, env, router):
    needs_library("the egress audit")
    env["RESPAN_FAIL"] = "closed"
    done, _ = run_node(node_sdks.argv("tls_connect.mjs", "127.0.0.1", router.port,
                                      "example.org"), env, node_sdks.dir)
    assert ok(done).splitlines() == ["connected", "HTTP/1.1 200 OK"]
    assert audit_events(env["RESPAN_LOG"], "bypass", "blocked") == []


# --------------------------------------------------------------------------
# respan run: the loopback relay copies Node's traffic to the log


@pytest.fixture
def respan_cli(respan_cli) -> Path:
    """conftest's, where the library is in use (not under the sanitizer run)."""
    needs_library("respan run")
    return respan_cli


@pytest.mark.parametrize("sdk,mode", CASES, ids=CASE_IDS)
def test_respan_run_logs_through_relay(node_sdks, respan_cli, env, router, sdk, mode):
    env.pop("LD_PRELOAD", None)       # respan run sets it
    args = ["stream"] if mode == "stream" else []
    done, _ = run_node([respan_cli, "run", "--", *node_sdks.argv(SDKS[sdk]["script"], *args)],
                       env, node_sdks.dir)
    assert ok(done) == ASSISTANT_TEXT
    [req] = router.requests()
    assert_routed_request(req, sdk, mode, env["RESPAN_API_KEY"])

    check_relay_records(env, sdk, mode)
