"""A static Go program (clients/go_client: Go's own TLS, no libc, base URLs
and keys from the environment as the official SDKs read them).

LD_PRELOAD cannot load into it, so `LD_PRELOAD=librespan.so go_client`
changes nothing (the call goes to the provider, here unreachable, exactly
as without the library); `respan run -- go_client` sets the base URLs to
its loopback relay before the program starts, and the call reaches the
router with the Respan key only, with a full record in the log
(docs/contract.md#layers: Go is reached by layer 1 only, and respan run gives it a log
copy). Needs Debian's golang-go (scripts/install-deps installs it); the
tests are skipped, with the reason, where there is no go."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from standin.certs import make_named_cert
from standin.clients import CALLS
from standin.helpers import assert_no_secrets, make_secret, read_log, run
from standin.proxy import Proxy
from standin.router import ASSISTANT_TEXT, Router
# The private /etc/hosts of test_router_tls_policy (a name with three labels).
from test_router_tls_policy import ROUTER_NAME, hosts_file  # noqa: F401

SRC = Path(__file__).parent / "clients" / "go_client"


def build_go_client(build_dir, name: str, cgo: str) -> Path:
    go = shutil.which("go", path="/usr/lib/go/bin:/usr/local/go/bin:/usr/bin:/bin")
    if go is None:
        pytest.skip("go is not installed (Debian package golang-go)")
    out = build_dir / "tests" / "clients" / name
    cache = build_dir / "tests" / "go"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cache), "CGO_ENABLED": cgo,
           "GOCACHE": str(cache / "cache"), "GOPATH": str(cache / "path"),
           "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local"}
    cache.mkdir(parents=True, exist_ok=True)
    run([go, "build", "-o", out, "."], env=env, cwd=SRC, check=True, timeout=300)
    return out


@pytest.fixture(scope="session")
def go_client(build_dir) -> Path:
    return build_go_client(build_dir, "go_client", "0")


@pytest.fixture(scope="session")
def go_client_cgo(build_dir) -> Path:
    """The same program with cgo: dynamically linked, so LD_PRELOAD loads
    into it, but Go still connects with its own system calls."""
    return build_go_client(build_dir, "go_client_cgo", "1")


def call_args(provider: str, stream: bool) -> list:
    call = CALLS["openai" if provider == "openai" else "anthropic"]
    body = dict(call.body, stream=True) if stream else call.body
    if stream and provider == "openai":
        body["stream_options"] = {"include_usage": True}   # else no usage in the stream
    return [provider, json.dumps(body)]


@pytest.mark.parametrize("provider,stream", [("openai", False), ("openai", True),
                                             ("anthropic", False), ("anthropic", True)])
def test_go_program_under_respan_run(provider, stream, go_client, respan_cli, respan_env,
                                     router):
    env = dict(respan_env)
    env.pop("LD_PRELOAD")                 # respan run sets it (it cannot load here)
    own_key = make_secret("sk-proj-" if provider == "openai" else "sk-ant-api03-")
    env["OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"] = own_key
    done = run([respan_cli, "run", "--", go_client, *call_args(provider, stream)], env=env)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout.startswith(b"200 OK\n")
    [req] = router.requests()
    key = env["RESPAN_API_KEY"]
    if provider == "openai":
        assert req.path == "/api/chat/completions"
        assert req.header_all("authorization") == [f"Bearer {key}"]
    else:
        assert req.path == "/api/anthropic/v1/messages"
        creds = [(n.lower(), v) for n, v in req.headers
                 if n.lower() in ("authorization", "x-api-key")]
        assert creds in ([("authorization", f"Bearer {key}")], [("x-api-key", key)])
    assert req.header("user-agent") == "go-legacy/1.0"
    assert own_key.encode() not in json.dumps(req.headers).encode() + req.body
    [rq] = read_log(env["RESPAN_LOG"], type="request")
    [rs] = read_log(env["RESPAN_LOG"], type="response")
    assert rq["layer"] == "relay" and rq["exe"] == str(go_client)
    assert rq["provider"] == provider and rq["routed"] is True
    assert rs["id"] == rq["id"] and rs["status"] == 200 and rs["sse"] is stream
    assert rs["output_text"] == ASSISTANT_TEXT
    assert rs["usage"]["input_tokens"] > 0
    assert_no_secrets(env["RESPAN_LOG"], key, own_key)


def test_go_program_is_beyond_ld_preload(go_client, respan_env, router):
    """Static: the library never loads. Same outcome as without it, nothing
    at the router, nothing in the log."""
    args = [go_client, *call_args("openai", False)]
    env = dict(respan_env, OPENAI_API_KEY=make_secret("sk-proj-"))
    bare = run(args, env={k: v for k, v in env.items() if k != "LD_PRELOAD"})
    with_lib = run(args, env=env)
    assert bare.returncode != 0, "api.openai.com must be unreachable here"
    assert (with_lib.returncode, with_lib.stdout) == (bare.returncode, bare.stdout)
    assert router.requests() == []
    assert read_log(env["RESPAN_LOG"]) == []


# --------------------------------------------------------------------------
# Interception through HTTPS_PROXY (docs/relay.md, "Static programs")


def respan_run_env(respan_env) -> dict:
    env = dict(respan_env)
    env.pop("LD_PRELOAD")
    return env


@pytest.mark.parametrize("linked", ["static", "cgo"])
def test_hard_coded_provider_url_is_intercepted(linked, request, respan_cli, respan_env,
                                                router):
    """A Go program that never heard of base URLs, static or dynamic (the
    connect() hook cannot steer Go either way): respan run points
    HTTPS_PROXY at its relay and adds the interception CA to the CA file Go
    reads; the CONNECT to api.openai.com is intercepted, the call routed with
    the Respan key and logged."""
    go_client = request.getfixturevalue("go_client" if linked == "static" else "go_client_cgo")
    env = respan_run_env(respan_env)
    env["OPENAI_API_KEY"] = own_key = make_secret("sk-proj-")
    body = json.dumps(CALLS["openai"].body)
    done = run([respan_cli, "run", "--", go_client, "openai-direct", body], env=env)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout.startswith(b"200 OK\n")
    [req] = router.requests()
    key = env["RESPAN_API_KEY"]
    assert req.path == "/api/chat/completions"
    assert req.header_all("authorization") == [f"Bearer {key}"]
    assert own_key.encode() not in json.dumps(req.headers).encode() + req.body
    [rq] = read_log(env["RESPAN_LOG"], type="request")
    assert rq["url"] == "https://api.openai.com/v1/chat/completions"
    assert rq["layer"] == "relay" and rq["routed"] is True and rq["exe"] == str(go_client)
    [rs] = read_log(env["RESPAN_LOG"], type="response")
    assert rs["status"] == 200 and rs["output_text"] == ASSISTANT_TEXT
    assert_no_secrets(env["RESPAN_LOG"], key, own_key)


def test_intercept_off_leaves_it_alone(go_client, respan_cli, respan_env, router):
    env = respan_run_env(respan_env)
    env.update(RESPAN_INTERCEPT="off", OPENAI_API_KEY=make_secret("sk-proj-"))
    done = run([respan_cli, "run", "--", go_client, "openai-direct", "{}"], env=env)
    assert done.returncode != 0          # api.openai.com is unreachable here
    assert router.requests() == []
    assert read_log(env["RESPAN_LOG"], type="request") == []


@pytest.mark.parametrize("chained", [False, True], ids=["direct", "users-proxy"])
def test_other_hosts_are_tunneled_untouched(chained, go_client, respan_cli, respan_env, pki,
                                            hosts_file, tmp_path):
    """Any other host through the relay's tunnel, byte for byte: Go sees the
    server's own chain (the test CA, from the SSL_CERT_FILE the user set,
    kept in the bundle), not the local CA's. With a proxy of the user's, the
    relay chains to it: the tunnel is asked of that proxy."""
    cert, cert_key = make_named_cert(pki, "router_go", (ROUTER_NAME,))
    env = respan_run_env(respan_env)
    env["SSL_CERT_FILE"] = pki["ca"]
    with Router(cert, cert_key, record=str(tmp_path / "other.jsonl")) as other, \
            Proxy(routes={ROUTER_NAME: ("127.0.0.1", 0)}) as proxy:
        proxy.routes[ROUTER_NAME] = ("127.0.0.1", other.port)   # outside the namespace
        if chained:
            env["HTTPS_PROXY"] = proxy.url
        url = f"https://{ROUTER_NAME}:{other.port}/api/models"
        done = run(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                    hosts_file, respan_cli, "run", "--", go_client, "get", url], env=env)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert done.stdout.decode().splitlines()[1] == "issuer: librespan test CA"
        [req] = other.requests()
        assert req.sni == ROUTER_NAME
        connects = [t for t, _ in proxy.connects()]
    assert connects == ([f"{ROUTER_NAME}:{other.port}"] if chained else [])
    assert read_log(env["RESPAN_LOG"], type="request") == []   # not ours to log
