"""C programs with provider URLs compiled in, under librespan.

ossl_client talks HTTPS with libssl directly (layers 3 and 4: the resolver
answers the provider name with the router, the OpenSSL hooks retarget the
session and rewrite the request head): blocking, non-blocking (-n, SSL_write
retried with the same arguments), SSL_write_ex/SSL_read_ex (-x) and small
writes (-c N, a head split anywhere). curl_client uses libcurl with
hard-coded URLs and keys (layer 2: the URL is rewritten before libcurl
connects), given as a string or as a CURLU handle (-u). ossl_client -g looks
names up with the gethostbyname family instead of getaddrinfo."""

from __future__ import annotations

import json
import re

import pytest

from standin.clients import (CALLS, CURL_CLIENT_CALLS, CURL_CLIENT_KEYS, check_log,
                             check_routed, provider_key, run_call)
from standin.helpers import make_respan_env

OSSL_VARIANTS = ["", "-n", "-x", "-n -x", "-c 1", "-c 7", "-n -c 100", "-x -c 33"]


@pytest.mark.parametrize("flags", OSSL_VARIANTS, ids=lambda f: f or "blocking")
@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-query",
                                  "vertexai-stream"])
def test_ossl_client(flags, call, router, respan_env, client_bin, tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    run_call(f"ossl_client {flags}", call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.sni == "localhost" and req.alpn == "http/1.1"
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="openssl", sent=[req])


@pytest.mark.parametrize("flags", ["", "-u"], ids=["CURLOPT_URL", "CURLOPT_CURLU"])
@pytest.mark.parametrize("call", CURL_CLIENT_CALLS)
def test_curl_client(flags, call, router, respan_env, client_bin, tmp_path):
    call = CALLS[call]
    key = CURL_CLIENT_KEYS[call.provider]
    run_call(f"curl_client {flags}", call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.sni == "localhost" and req.alpn == "http/1.1"
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="curl", sent=[req])


@pytest.mark.parametrize("client", ["ossl_client", "curl_client"])
def test_c_client_with_router_by_ipv6_address(client, router6, pki, librespan, client_bin,
                                              tmp_path):
    """With the router named by address, libcurl's URLs are left alone and
    the resolver and OpenSSL layers route the session instead."""
    env = make_respan_env(tmp_path, router6, pki, preload=librespan, host="::1")
    call = CALLS["anthropic"]
    key = CURL_CLIENT_KEYS["anthropic"] if client == "curl_client" else provider_key(call)
    run_call(client, call, env, key, tmp_path, client_bin)
    [req] = router6.requests()
    check_routed(req, call, env, key, host=f"[::1]:{router6.port}")
    check_log(env, call, key, layer="openssl", sent=[req])


# Older programs look names up with the gethostbyname family, others with
# getaddrinfo and no service or "0" (Bun), and connect to port 443
# themselves: the socket layer takes the connection on to the router's port.
@pytest.mark.parametrize("how,address", [("4", "localhost"), ("r", "localhost"),
                                         ("6", "::1"), ("r6", "::1"), ("null", "localhost"),
                                         ("0", "localhost"), ("0", "::1")])
@pytest.mark.parametrize("flags", ["", "-n"], ids=["blocking", "nonblocking"])
def test_ossl_client_gethostbyname(how, address, flags, request, pki, librespan, client_bin,
                                   tmp_path):
    router = request.getfixturevalue("router6" if ":" in address else "router")
    env = make_respan_env(tmp_path, router, pki, preload=librespan, host=address)
    call = CALLS["openai-stream"]
    key = provider_key(call)
    run_call(f"ossl_client -g {how} {flags}", call, env, key, tmp_path, client_bin)
    [req] = router.requests()
    authority = f"[{address}]:{router.port}" if ":" in address else f"{address}:{router.port}"
    check_routed(req, call, env, key, host=authority)
    check_log(env, call, key, layer="openssl", sent=[req])


# SSL_MODE_ENABLE_PARTIAL_WRITE (+ ACCEPT_MOVING_WRITE_BUFFER, the retry
# passing the same bytes from another address) on a non-blocking socket with
# a 4 KiB send buffer and a 1.5 MiB body: SSL_write must stop part-way and be
# retried many times. The program's counts stay its own (the library answers
# for all of its bytes once the rewritten ones are out), and the body
# arrives byte for byte.
@pytest.mark.parametrize("flags", ["-n -p", "-n -p -x", "-n -p -c 65536"])
def test_ossl_client_partial_write_mode(flags, router, respan_env, client_bin, tmp_path):
    call = CALLS["openai"]
    key = provider_key(call)
    filler = "".join(chr(0x20 + (i * 7919) % 95) for i in range(1500 * 1024))
    body = json.dumps(dict(call.body, user=filler)).encode()
    res = run_call(f"ossl_client {flags}", call, respan_env, key, tmp_path, client_bin,
                   body=body)
    short, retried = map(int, re.search(r"writes: (\d+) short, (\d+) retried",
                                        res.stderr).groups())
    assert retried > 0, res.stderr
    [req] = router.requests()
    check_routed(req, call, respan_env, key, body=body)
    check_log(respan_env, call, key, body=body, sent=[req])


def test_ssl_object_reused_for_another_host_is_not_routed(router, respan_env, pki, client_bin,
                                                          tmp_path):
    """SSL_shutdown, SSL_clear, and the same SSL object for a second
    connection to a host that is no provider (router.test, served by the
    same stand-in): nothing decided for the first connection (routed,
    rewritten, the Respan key) may carry over to the second."""
    call = CALLS["openai"]
    key = provider_key(call)
    res = run_call(f"ossl_client -R 127.0.0.1:{router.port}:router.test", call, respan_env, key,
                   tmp_path, client_bin, cafile=pki["ca"], check=False)
    assert res.proc.returncode == 0, res.stderr
    assert len(res.answers) == 2
    first, second = router.requests()
    assert first.sni == "localhost"
    check_routed(first, call, respan_env, key)
    assert second.sni == "router.test"
    assert second.path == call.target.format(key=key)
    assert second.header_all("host") == [call.host]
    assert second.header_all(call.cred[0]) == [call.cred[1].format(key=key)]
    assert respan_env["RESPAN_API_KEY"] not in repr(second.headers)
    assert second.header("x-respan-route-provider") is None
    assert second.body == first.body
    check_log(respan_env, call, key, layer="openssl", sent=[first])
