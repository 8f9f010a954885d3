"""Programs behind an HTTP CONNECT proxy (docs/contract.md#egress-audit,
docs/layers.md "Proxy tunnels"), with a small CONNECT proxy on loopback
(standin/proxy.py).

A program keeps its proxy: the tunnel it asks for is to the router instead
of the provider, and the session inside is routed, keyed and logged as any
other. curl is routed by the libcurl layer before it asks the proxy (its
URL is the router's already); Python's http.client with set_tunnel and
wget (GnuTLS) write `CONNECT api.openai.com:443` themselves, and the socket
layer asks for the router in their place. A program whose TLS the library cannot take over gets
no such help: its tunnel to a provider is audited like a ClientHello."""

from __future__ import annotations

import json

import pytest

from standin.clients import CALLS, check_log, check_routed, provider_key, run_call
from standin.helpers import (USERS_OWN_BASE_URL, assert_no_secrets, make_respan_env, read_log,
                             run)
from standin.proxy import Proxy
from standin.router import Router

PYTHON = "/usr/bin/python3"

# http.client through a tunnel that it asks for itself (set_tunnel).
TUNNEL_CLIENT = r"""
import http.client, json, ssl, sys
port, cafile, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20)
c.set_tunnel("api.openai.com", 443, headers={"Proxy-Authorization": "Basic dXNlcjpwYXNz"})
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
try:
    c.request("POST", "/v1/chat/completions", body,
              {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    r = c.getresponse()
    print(r.status, json.loads(r.read())["choices"][0]["message"]["content"])
except OSError as e:
    print("error", type(e).__name__, e)
    sys.exit(3)
"""

# A program with no TLS the library can see (the ssl module is never
# imported, so no libssl is loaded) asking a proxy for a tunnel.
RAW_CONNECT = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    s.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
    print("sent", s.recv(100).split(b"\r\n")[0].decode())
except OSError as e:
    print("error", type(e).__name__)
"""


def tunnel_client(env, proxy, pki, key, tmp_path):
    script = tmp_path / "tunnel.py"
    script.write_text(TUNNEL_CLIENT)
    return run([PYTHON, script, proxy.port, pki["ca"], key], env=env)


def test_python_set_tunnel_is_routed_through_the_proxy(router, respan_env, pki, tmp_path):
    key = provider_key(CALLS["openai"])
    with Proxy() as proxy:
        done = tunnel_client(respan_env, proxy, pki, key, tmp_path)
        connects = proxy.connects()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"200 "), done.stdout
    router_at = f"localhost:{router.port}"
    # The proxy was asked for the router, with the program's own fields kept.
    [(target, headers)] = connects
    assert target == router_at
    assert headers.get("proxy-authorization") == "Basic dXNlcjpwYXNz"
    [req] = router.requests()
    assert req.sni == "localhost"
    assert req.header("authorization") == f"Bearer {respan_env['RESPAN_API_KEY']}"
    assert req.path == "/api/chat/completions"
    assert key.encode() not in json.dumps(req.headers).encode() + req.body
    log = read_log(respan_env["RESPAN_LOG"])
    [rq] = [r for r in log if r["type"] == "request"]
    assert rq["routed"] is True and rq["layer"] == "openssl"
    assert rq["url"] == "https://api.openai.com/v1/chat/completions"
    [rs] = [r for r in log if r["type"] == "response"]
    assert rs["status"] == 200 and rs["id"] == rq["id"]
    assert [e for e in log if e["type"] == "event"] == []
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


def test_untrusted_router_behind_the_proxy_gets_nothing(respan_env, pki, librespan, tmp_path):
    key = provider_key(CALLS["openai"])
    with Router(pki["wrong_cert"], pki["wrong_key"],
                record=str(tmp_path / "bad.jsonl")) as bad, Proxy() as proxy:
        env = make_respan_env(tmp_path, bad, pki, preload=librespan)
        done = tunnel_client(env, proxy, pki, key, tmp_path)
        assert bad.requests() == []
        assert [t for t, _ in proxy.connects()] == [f"localhost:{bad.port}"]
    assert done.returncode == 3 and done.stdout.startswith(b"error "), done.stdout
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], key)


@pytest.mark.parametrize("how", ["-x", "HTTPS_PROXY"])
def test_untrusted_router_behind_the_proxy_gets_nothing_from_curl(how, pki, librespan,
                                                                   tmp_path):
    """curl through the proxy to a router from an unknown CA: the tunnel is
    to the router, the handshake fails (curl's own check, for the router's
    name), nothing is sent and no key is in the log."""
    call = CALLS["openai"]
    key = provider_key(call)
    with Router(pki["wrong_cert"], pki["wrong_key"],
                record=str(tmp_path / "bad.jsonl")) as bad, Proxy() as proxy:
        env = make_respan_env(tmp_path, bad, pki, preload=librespan)
        flags = f"-x {proxy.url}" if how == "-x" else ""
        if how == "HTTPS_PROXY":
            env["HTTPS_PROXY"] = proxy.url
        res = run_call(f"curl {flags}".strip(), call, env, key, tmp_path, check=False)
        assert bad.requests() == []
        assert [t for t, _ in proxy.connects()] == [f"localhost:{bad.port}"]
    assert res.proc.returncode == 60, res.stderr     # CURLE_PEER_FAILED_VERIFICATION
    assert read_log(env["RESPAN_LOG"], type="request") == []
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], key)


def test_curl_dash_x_keeps_its_proxy(router, respan_env, tmp_path):
    call = CALLS["openai"]
    key = provider_key(call)
    with Proxy() as proxy:
        run_call(f"curl -x {proxy.url}", call, respan_env, key, tmp_path)
        assert [t for t, _ in proxy.connects()] == [f"localhost:{router.port}"]
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="curl", sent=[req])


def test_curl_https_proxy_variable_keeps_its_proxy(router, respan_env, tmp_path):
    call = CALLS["anthropic-stream"]
    key = provider_key(call)
    with Proxy() as proxy:
        respan_env["HTTPS_PROXY"] = proxy.url
        run_call("curl", call, respan_env, key, tmp_path)
        assert [t for t, _ in proxy.connects()] == [f"localhost:{router.port}"]
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="curl", sent=[req])


def test_wget_through_https_proxy_is_routed(router, respan_env, tmp_path):
    """wget (GnuTLS) writes its CONNECT itself: the tunnel is asked for the
    router, and the GnuTLS layer routes the session inside it."""
    call = CALLS["openai-stream"]
    key = provider_key(call)
    with Proxy() as proxy:
        respan_env["https_proxy"] = respan_env["HTTPS_PROXY"] = proxy.url
        run_call("wget", call, respan_env, key, tmp_path)
        assert [t for t, _ in proxy.connects()] == [f"localhost:{router.port}"]
    [req] = router.requests()
    assert req.sni == "localhost"
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="gnutls", sent=[req])


def run_raw_connect(env, proxy, tmp_path):
    script = tmp_path / "raw_connect.py"
    script.write_text(RAW_CONNECT)
    return run([PYTHON, script, proxy.port], env=env)


def test_tunnel_to_a_provider_that_cannot_be_routed_is_refused_when_keyed(respan_env, tmp_path):
    """No libssl in the process, and layer 1 put the Respan key into
    OPENAI_API_KEY: the tunnel to api.openai.com is refused, the proxy never
    hears of it, and the blocked event names the variable."""
    with Proxy() as proxy:
        done = run_raw_connect(respan_env, proxy, tmp_path)
        assert proxy.connects() == []
    assert done.stdout == b"error ConnectionResetError\n", (done.stdout, done.stderr)
    events = read_log(respan_env["RESPAN_LOG"], type="event")
    blocked = [e for e in events if e["event"] == "blocked"]
    assert [e["host"] for e in blocked] == ["api.openai.com"], events
    assert blocked[0]["detail"].startswith("the Respan key is in OPENAI_API_KEY"), blocked
    assert "CONNECT" in blocked[0]["detail"]


def test_tunnel_to_a_provider_that_cannot_be_routed_is_a_bypass(respan_env, tmp_path):
    """The same with the user's own OpenAI base URL (no Respan key for
    OpenAI in the process): the tunnel goes ahead as a bypass, refused under
    RESPAN_FAIL=closed."""
    respan_env.update(USERS_OWN_BASE_URL["openai"])
    with Proxy(routes={"api.openai.com": ("127.0.0.1", 9)}) as proxy:
        done = run_raw_connect(respan_env, proxy, tmp_path)
        assert [t for t, _ in proxy.connects()] == ["api.openai.com:443"]
    assert done.stdout.startswith(b"sent HTTP/1.1 "), done.stdout
    events = {e["event"]: e for e in read_log(respan_env["RESPAN_LOG"], type="event")}
    assert events["bypass"]["host"] == "api.openai.com"
    assert "blocked" not in events

    respan_env["RESPAN_FAIL"] = "closed"
    respan_env["RESPAN_LOG"] = str(tmp_path / "closed.jsonl")
    with Proxy() as proxy:
        done = run_raw_connect(respan_env, proxy, tmp_path)
        assert proxy.connects() == []
    assert done.stdout == b"error ConnectionResetError\n"
    events = {e["event"]: e for e in read_log(respan_env["RESPAN_LOG"], type="event")}
    assert events["blocked"]["detail"].startswith("RESPAN_FAIL=closed")


def test_doctor_reports_egress_and_proxies(respan_cli, respan_env):
    """respan doctor names the providers whose unrouted connections are
    refused whatever RESPAN_FAIL says, and the proxy variables, without a
    proxy password."""
    env = {k: v for k, v in respan_env.items() if k != "LD_PRELOAD"}
    env.update(HTTPS_PROXY="http://user:pr0xy-s3cret@127.0.0.1:3128", NO_PROXY="localhost")
    done = run([respan_cli, "doctor"], env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in
            out.split("egress (", 1)[1].splitlines()[1:] if line.startswith("  ") and
            not line.startswith("  (")}
    assert rows["RESPAN_FAIL"].startswith("open")
    assert rows["always"].startswith("refused ") and "openai (OPENAI_API_KEY)" in rows["always"]
    assert rows["HTTPS_PROXY"] == "http://[REDACTED]@127.0.0.1:3128"
    assert rows["NO_PROXY"] == "localhost"
    assert "pr0xy-s3cret" not in out + done.stderr.decode()

    env.update(USERS_OWN_BASE_URL["openai"])        # layer 1 leaves OpenAI alone
    out = run([respan_cli, "doctor"], env=env).stdout.decode()
    always = [line for line in out.splitlines() if line.startswith("  always refused")]
    assert always and "openai" not in always[0] and "anthropic" in always[0], always
