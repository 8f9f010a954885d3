"""The curl command under librespan (libcurl layer): it offers HTTP/2 by
default, and a routed connection must still speak HTTP/1.1 to the router."""

from __future__ import annotations

import pytest

from standin.clients import CALLS, check_log, check_routed, provider_key, run_call

CURL_FLAGS = {"default": "", "http1.1": "--http1.1", "http2": "--http2", "stream": "-N"}


def _routed_ok(router, call, env, key, count=1):
    reqs = router.requests()
    assert len(reqs) == count
    for req in reqs:
        assert (req.alpn, req.version) == ("http/1.1", "HTTP/1.1")
        check_routed(req, call, env, key)
    assert router.errors() == []          # no HTTP/2 preface, no bad request
    check_log(env, call, key, count=count, layer="curl", sent=reqs)


@pytest.mark.parametrize("flags", CURL_FLAGS.values(), ids=CURL_FLAGS.keys())
@pytest.mark.parametrize("call", CALLS.keys())
def test_curl(flags, call, router, respan_env, client_bin, tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    run_call(f"curl {flags}", call, respan_env, key, tmp_path, client_bin)
    _routed_ok(router, call, respan_env, key)


@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-stream"])
def test_curl_compressed_answer_is_logged_decoded(call, router, respan_env, client_bin,
                                                  tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    run_call("curl --compressed", call, respan_env, key, tmp_path, client_bin,
             extra=(("X-Standin-Gzip", "1"),))
    [(_, resp)] = check_log(respan_env, call, key, layer="curl")
    assert ("content-encoding", "gzip") in [(n.lower(), v) for n, v in resp["headers"]]
    assert "body" in resp and "stand-in router" in resp["body"]


@pytest.mark.parametrize("flags", ["", "--http1.1"])
def test_curl_reuses_one_connection(flags, router, respan_env, client_bin, tmp_path):
    call = CALLS["anthropic"]
    key = provider_key(call)
    run_call(f"curl {flags}", call, respan_env, key, tmp_path, client_bin, repeat=3)
    assert [(r.conn, r.seq) for r in router.requests()] == \
        [(router.requests()[0].conn, n) for n in (1, 2, 3)]
    _routed_ok(router, call, respan_env, key, count=3)
