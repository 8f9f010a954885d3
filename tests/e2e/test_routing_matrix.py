"""Routing under librespan, end to end (docs/contract.md: routes, configuration, traffic log): every
provider, streaming and not, keep-alive, big bodies, IPv6, the routing
headers, and the log. The client is the OpenSSL test client (raw HTTP/1.1
over SSL_write/SSL_read) unless a test needs another one."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from standin.clients import (ASSISTANT_TEXT, CALLS, check_log, check_routed, log_pairs,
                             provider_key, run_call)
from standin.helpers import assert_no_secrets, make_respan_env, read_log, run

OSSL = "ossl_client"


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_every_provider_is_routed(call, router, respan_env, client_bin, tmp_path):
    key = provider_key(call)
    run_call(OSSL, call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="openssl", sent=[req])


# Several requests on one connection: pipelined in one write by the raw
# client, one after the other by the Python clients.
@pytest.mark.parametrize("client,call", [
    (OSSL, "openai"), (OSSL + " -c 9", "anthropic-stream"), (OSSL + " -n -x", "gemini-query"),
    ("py:http.client", "openai-stream"), ("py:requests", "anthropic"),
    ("py:httpx", "vertexai"), ("py:aiohttp", "gemini-stream"),
])
def test_keep_alive(client, call, router, respan_env, client_bin, tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    run_call(client, call, respan_env, key, tmp_path, client_bin, repeat=3)
    reqs = router.requests()
    assert [(r.conn, r.seq) for r in reqs] == [(reqs[0].conn, n) for n in (1, 2, 3)]
    for req in reqs:
        check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, count=3, sent=reqs)


@pytest.mark.parametrize("client", [OSSL + " -c 16384", OSSL + " -n -x", "py:requests",
                                    "py:aiohttp", "curl"])
def test_body_over_one_mib_arrives_byte_for_byte(client, router, respan_env, client_bin,
                                                 tmp_path):
    call = CALLS["anthropic"]
    key = provider_key(call)
    filler = "".join(chr(0x20 + (i * 7919) % 95) for i in range(1500 * 1024))
    body = json.dumps(dict(call.body, system=filler, note="caf\u00e9 \u2713")).encode()
    assert len(body) > (1 << 20) + 300 * 1024
    run_call(client, call, respan_env, key, tmp_path, client_bin, body=body)
    [req] = router.requests()
    check_routed(req, call, respan_env, key, body=body)
    check_log(respan_env, call, key, body=body)


@pytest.mark.parametrize("client", [OSSL, OSSL + " -n", "py:http.client", "py:aiohttp",
                                    "curl"])
@pytest.mark.parametrize("call", ["openai", "anthropic-stream"])
@pytest.mark.parametrize("address", ["::1", "127.0.0.1"])
def test_router_by_address(address, call, client, request, pki, librespan, client_bin,
                           tmp_path):
    """RESPAN_BASE_URL names the router by address, IPv6 loopback included:
    no SNI, the certificate's IP address is checked."""
    router = request.getfixturevalue("router6" if ":" in address else "router")
    call = CALLS[call]
    env = make_respan_env(tmp_path, router, pki, preload=librespan, host=address)
    authority = f"[{address}]:{router.port}" if ":" in address else f"{address}:{router.port}"
    assert env["RESPAN_BASE_URL"] == f"https://{authority}/api/"
    key = provider_key(call)
    run_call(client, call, env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.client.rpartition(":")[0] == address
    assert req.sni is None          # no SNI for an address (RFC 6066 section 3)
    check_routed(req, call, env, key, host=authority)
    check_log(env, call, key, sent=[req])


def test_router_port_is_not_443(router, respan_env, client_bin, tmp_path):
    """The router listens on an ephemeral port; the program asked for 443."""
    assert router.port != 443
    call = CALLS["openai"]
    key = provider_key(call)
    run_call(OSSL, call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.header("host") == f"localhost:{router.port}"
    assert req.sni == "localhost"
    [(rec, _)] = check_log(respan_env, call, key)
    assert rec["url"] == "https://api.openai.com/v1/chat/completions"
    assert rec["routed_url"] == f"https://localhost:{router.port}/api/chat/completions"


# RESPAN_ROUTE_PROVIDER for every provider, RESPAN_ROUTE_PROVIDER_<ID> wins.
ROUTE_ENVS = {
    "all": ({"RESPAN_ROUTE_PROVIDER": "vertex_ai"},
            {"openai": "vertex_ai", "anthropic": "vertex_ai", "gemini-header": "vertex_ai"}),
    "anthropic-only": ({"RESPAN_ROUTE_PROVIDER_ANTHROPIC": "vertex_ai"},
                       {"openai": None, "anthropic": "vertex_ai", "gemini-header": None}),
    "specific-wins": ({"RESPAN_ROUTE_PROVIDER": "openai",
                       "RESPAN_ROUTE_PROVIDER_ANTHROPIC": "bedrock"},
                      {"openai": "openai", "anthropic": "bedrock", "gemini-header": "openai"}),
}


@pytest.mark.parametrize("setting", ROUTE_ENVS.keys())
@pytest.mark.parametrize("call", ["openai", "anthropic", "gemini-header"])
def test_route_provider_header(setting, call, router, respan_env, client_bin, tmp_path):
    variables, expected = ROUTE_ENVS[setting]
    respan_env.update(variables)
    call = CALLS[call]
    key = provider_key(call)
    run_call(OSSL, call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    check_routed(req, call, respan_env, key, route_provider=expected[call.id])
    check_log(respan_env, call, key, sent=[req])


def test_program_route_provider_header_is_replaced(router, respan_env, client_bin, tmp_path):
    """The program's own X-Respan-Route-Provider gives way to the setting."""
    respan_env["RESPAN_ROUTE_PROVIDER"] = "vertex_ai"
    call = CALLS["anthropic"]
    key = provider_key(call)
    run_call(OSSL, call, respan_env, key, tmp_path, client_bin,
             extra=(("X-Respan-Route-Provider", "anthropic"),))
    [req] = router.requests()
    assert req.header_all("x-respan-route-provider") == ["vertex_ai"]


PARAMS = {"customer_identifier": "cust-42", "thread_identifier": "thr-\u00e9-7",
          "metadata": {"team": "e2e", "n": 3, "nested": {"ok": True}}}


@pytest.mark.parametrize("client", [OSSL, "py:requests", "py:aiohttp", "curl"])
@pytest.mark.parametrize("call", ["openai", "anthropic-stream"])
def test_respan_params_header(client, call, router, respan_env, client_bin, tmp_path):
    respan_env["RESPAN_PARAMS"] = json.dumps(PARAMS)
    call = CALLS[call]
    key = provider_key(call)
    run_call(client, call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    [value] = req.header_all("x-data-respan-params")
    assert json.loads(base64.b64decode(value, validate=True)) == PARAMS
    check_log(respan_env, call, key, sent=[req])


@pytest.mark.parametrize("value", ["[1, 2]", "not json", '"a string"'])
def test_bad_respan_params_warns_once_and_is_not_sent(value, router, respan_env, client_bin,
                                                      tmp_path):
    respan_env["RESPAN_PARAMS"] = value
    call = CALLS["openai"]
    key = provider_key(call)
    res = run_call(OSSL, call, respan_env, key, tmp_path, client_bin)
    lines = [l for l in res.stderr.splitlines() if l.startswith("respan:")]
    assert len(lines) == 1 and "RESPAN_PARAMS" in lines[0], res.stderr
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    assert req.header("x-data-respan-params") is None


# A program whose base URL already is the router (docs/contract.md#routes, last paragraph):
# path left alone, credential swapped, request logged. By address too, for
# clients on a socket (with no SNI, only the socket's peer can tell).
@pytest.mark.parametrize("client,address", [
    ("curl", "localhost"), ("py:requests", "localhost"), ("py:aiohttp", "localhost"),
    ("py:requests", "127.0.0.1"), ("py:http.client", "::1"),
    ("wget", "localhost"), ("wget", "127.0.0.1"), ("wget", "::1"),    # GnuTLS
])
def test_request_already_sent_to_the_router(client, address, request, pki, librespan,
                                            client_bin, tmp_path):
    router = request.getfixturevalue("router6" if ":" in address else "router")
    env = make_respan_env(tmp_path, router, pki, preload=librespan, host=address)
    authority = urlsplit(env["RESPAN_BASE_URL"]).netloc
    call = CALLS["anthropic"]
    direct = replace(call, host=authority, target=call.routed)
    key = provider_key(call)
    run_call(client, direct, env, key, tmp_path, client_bin)
    [req] = router.requests()
    check_routed(req, call, env, key)
    [(rec, _)] = check_log(env, direct, key,
                           url=f"https://{authority}/api/anthropic/v1/messages")
    assert rec["provider"] == "anthropic"


@pytest.mark.parametrize("limit", [0, 20, 64])
@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-stream"])
def test_log_body_max(limit, call, router, respan_env, client_bin, tmp_path):
    """RESPAN_LOG_BODY_MAX caps what the log keeps of each body (and of the
    assistant text), not what is sent; usage still comes from the whole answer."""
    respan_env["RESPAN_LOG_BODY_MAX"] = str(limit)
    call = CALLS[call]
    key = provider_key(call)
    run_call(OSSL, call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    [(rec, resp)] = log_pairs(read_log(respan_env["RESPAN_LOG"]))
    assert (rec["body"], rec["body_bytes"], rec["body_truncated"]) == \
        (call.body_bytes()[:limit].decode(), len(call.body_bytes()), True)
    assert resp["body_truncated"] is True and len(resp["body"]) == limit
    assert resp["body_bytes"] > limit
    assert resp["output_text"] == ASSISTANT_TEXT[:limit]
    assert (resp["usage"]["input_tokens"], resp["usage"]["output_tokens"]) == (11, 7)
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


@pytest.mark.parametrize("client", [OSSL, "curl", "py:httpx"])
@pytest.mark.parametrize("call", ["openai", "gemini-stream"])
def test_error_status_is_passed_on_and_logged(client, call, router, respan_env, client_bin,
                                              tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    res = run_call(client, call, respan_env, key, tmp_path, client_bin, check=False,
                   extra=(("X-Standin-Status", "429"),))
    if client != "curl":        # curl -sS says nothing, writes the body, exits 0
        assert [s for s, _ in res.answers] == [429]
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    [(rec, resp)] = log_pairs(read_log(respan_env["RESPAN_LOG"]))
    assert resp["status"] == 429 and resp["error"] is None
    assert resp["sse"] is False and resp["usage"] is None
    assert "stand-in error 429" in resp["body"]
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


@pytest.mark.parametrize("client", [OSSL, "curl", "py:requests", "py:aiohttp"])
@pytest.mark.parametrize("call,cut,text", [("openai", "4", None), ("anthropic-stream", "4", "Hello"),
                                           ("openai-stream", "2", "Hello")])
def test_answer_cut_short_is_logged_with_an_error(client, call, cut, text, router, respan_env,
                                                  client_bin, tmp_path):
    """The router drops the connection after CUT body bytes or events."""
    call = CALLS[call]
    key = provider_key(call)
    run_call(client, call, respan_env, key, tmp_path, client_bin, check=False,
             extra=(("X-Standin-Cut", cut),))
    [(rec, resp)] = log_pairs(read_log(respan_env["RESPAN_LOG"]))
    assert resp["status"] == 200 and resp["sse"] is call.stream
    assert resp["error"] and "before the response was complete" in resp["error"]
    assert resp["output_text"] == text
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


# The program stops while the stream is still coming (the router pauses
# 300 ms between events): the response record is still written, with why it
# ended. ossl_client -e exits closing nothing; Python frees its SSL objects
# on the way out, an early close.
@pytest.mark.parametrize("client,why", [
    (OSSL + " -e 200", "process exited"), (OSSL + " -n -x -e 200", "process exited"),
    ("py:http.client", "connection closed before the response was complete")])
def test_program_leaving_mid_stream_is_logged(client, why, router, respan_env, client_bin,
                                              tmp_path):
    call = CALLS["anthropic-stream"]
    key = provider_key(call)
    extra = (("X-Standin-Delay-Ms", "300"),)
    if client.startswith("py:"):
        script = (
            "import http.client, sys\n"
            "c = http.client.HTTPSConnection('api.anthropic.com')\n"
            "c.request('POST', '/v1/messages?beta=true', body=sys.stdin.buffer.read(),\n"
            f"          headers={dict(call.headers(key) + list(extra))!r})\n"
            "r = c.getresponse()\n"
            "print(r.status, r.readline().decode().strip(), flush=True)\n")
        proc = run(["/usr/bin/python3", "-c", script], env=respan_env,
                   input=call.body_bytes())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.decode().startswith("200 event: message_start")
    else:
        res = run_call(client, call, respan_env, key, tmp_path, client_bin, extra=extra,
                       check=False)
        assert res.proc.returncode == 0 and res.proc.stdout.startswith(b"HTTP/1.1 200 OK")
        assert b"message_stop" not in res.proc.stdout
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    [(rec, resp)] = log_pairs(read_log(respan_env["RESPAN_LOG"]))
    assert resp["status"] == 200 and resp["sse"] is True
    assert resp["error"] == why
    assert "stand-in router" not in (resp["output_text"] or "")
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)
