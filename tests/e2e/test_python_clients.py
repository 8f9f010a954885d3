"""Python HTTP clients under librespan, run by /usr/bin/python3 (Debian's).

http.client, urllib, requests (urllib3 1.26 checks the certificate's names
itself: certname.c) and httpx use Python's _ssl module, a libssl loaded
RTLD_LOCAL, on a socket; aiohttp runs TLS over asyncio's memory BIOs, a
session without a socket that only its SNI identifies."""

from __future__ import annotations

import subprocess

import pytest

from standin.clients import (CALLS, PY_LIBS, check_log, check_routed, log_pairs, provider_key,
                             python_client, redacted, run_call)
from standin.helpers import assert_no_secrets, read_log


@pytest.mark.parametrize("lib", PY_LIBS)
@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-header",
                                  "vertexai-stream", "openai-nocred"])
def test_python_client(lib, call, router, respan_env, client_bin, tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    run_call(f"py:{lib}", call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.alpn == "http/1.1"
    check_routed(req, call, respan_env, key)
    [(rec, _)] = check_log(respan_env, call, key, layer="openssl", sent=[req])
    assert rec["exe"].startswith("/usr/bin/python3")


def test_processes_share_one_log(router, respan_env, tmp_path):
    """Several processes at once, each with requests on one connection: every
    record whole, ids unique, each response joined to its request."""
    call = CALLS["anthropic-stream"]
    key = provider_key(call)
    data = tmp_path / "body.json"
    data.write_bytes(call.body_bytes())
    libs = ["http.client", "requests", "httpx", "aiohttp"]
    procs = [subprocess.Popen(python_client(lib, call.url(key), call.headers(key), data,
                                            repeat=2),
                              env=respan_env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for lib in libs]
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err.decode()
    reqs = router.requests()
    assert len(reqs) == 2 * len(libs)
    for req in reqs:
        check_routed(req, call, respan_env, key)
    pairs = check_log(respan_env, call, key, count=len(reqs))
    assert sorted(map(repr, (rec["headers"] for rec, _ in pairs))) == \
        sorted(map(repr, (redacted(r.headers) for r in reqs)))
    assert len({rec["pid"] for rec, _ in pairs}) == len(libs)
    assert len(log_pairs(read_log(respan_env["RESPAN_LOG"]))) == len(reqs)
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)
