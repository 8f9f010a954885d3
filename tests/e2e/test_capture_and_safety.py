"""What librespan must not change (docs/contract.md: configuration, never): capture mode and a
missing RESPAN_API_KEY leave traffic as it is but still log it (off mode:
not even that); programs that
never call an LLM are untouched; a router whose certificate does not verify
is refused, whatever the program's own settings."""

from __future__ import annotations

import re

import pytest

from standin.certs import make_named_cert
from standin.clients import (CALLS, CURL_CLIENT_KEYS, as_provider, check_answer, check_log,
                             provider_key, run_call)
from standin.helpers import assert_no_secrets, clean_env, make_respan_env, read_log, run
from standin.router import Router

OSSL = "ossl_client"


@pytest.fixture(scope="module")
def _provider_standin(pki):
    """A stand-in serving the provider names themselves (test CA), reached
    by address: what the real providers are for traffic that is not routed."""
    cert, key = make_named_cert(pki, "providers")
    with Router(cert, key) as r:
        yield r


@pytest.fixture
def provider_standin(_provider_standin):
    _provider_standin.clear()
    _provider_standin.override = as_provider
    return _provider_standin


def check_unchanged(req, call, key: str, respan_key: str, host: str = "") -> None:
    """REQ reached the provider exactly as the program sent it."""
    assert req.path == call.target.format(key=key)
    assert req.header_all("host") == [host or call.host]
    if call.cred:
        assert req.header_all(call.cred[0]) == [call.cred[1].format(key=key)]
    assert req.body == call.body_bytes()
    assert not [n for n, _ in req.headers if n.lower().startswith(("x-respan", "x-data-respan"))]
    if respan_key:
        blob = repr(req.headers).encode() + req.path.encode() + req.body
        assert respan_key.encode() not in blob


def respan_lines(stderr: bytes) -> list:
    return [l for l in stderr.decode(errors="replace").splitlines() if l.startswith("respan:")]


# --------------------------------------------------------------------------
# Capture mode, and no key (capture only): the program reaches the provider
# (here the stand-in by address, the TLS name still the provider's) as it
# would without the library, and the exchange is logged.

CAPTURE_CLIENTS = [OSSL, OSSL + " -n -x -c 5", "curl", "curl --http1.1", "py:http.client",
                   "py:aiohttp"]


@pytest.mark.parametrize("client", CAPTURE_CLIENTS)
@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-query"])
@pytest.mark.parametrize("how", ["capture-mode", "no-key", "off-mode"])
def test_unrouted_traffic_is_unchanged_and_logged(how, call, client, provider_standin,
                                                  respan_env, pki, client_bin, tmp_path):
    """RESPAN_MODE=off is the same, but logs nothing."""
    if how == "no-key":
        del respan_env["RESPAN_API_KEY"]
    else:
        respan_env["RESPAN_MODE"] = how.split("-")[0]
    respan_env["RESPAN_PARAMS"] = '{"customer_identifier": "c1"}'   # not for capture
    call = CALLS[call]
    key = provider_key(call)
    res = run_call(client, call, respan_env, key, tmp_path, client_bin,
                   connect=f"127.0.0.1:{provider_standin.port}", cafile=pki["ca"])
    [req] = provider_standin.requests()
    assert req.sni == call.host
    check_unchanged(req, call, key, respan_env.get("RESPAN_API_KEY", ""))
    if how == "off-mode":
        assert read_log(respan_env["RESPAN_LOG"]) == []
    else:
        check_log(respan_env, call, key, routed=False, sent=[req])
    warnings = respan_lines(res.proc.stderr)
    assert warnings == ([] if how != "no-key" else
                        ["respan: RESPAN_API_KEY is not set: traffic is logged, not routed"])


# No key and no stand-in: the program fails to reach the (offline) provider
# exactly as it does without the library, with one warning more.
@pytest.mark.parametrize("client", [OSSL, "curl_client", "curl", "py:requests"])
def test_no_key_changes_nothing_but_warns_once(client, router, respan_env, client_bin,
                                               tmp_path):
    del respan_env["RESPAN_API_KEY"]
    call = CALLS["openai"]
    key = CURL_CLIENT_KEYS["openai"] if client == "curl_client" else provider_key(call)
    with_lib = run_call(client, call, respan_env, key, tmp_path, client_bin, check=False)
    bare_env = {k: v for k, v in respan_env.items() if k != "LD_PRELOAD"}
    bare = run_call(client, call, bare_env, key, tmp_path, client_bin, check=False)
    assert bare.proc.returncode != 0, "the provider host must be unreachable here"
    assert with_lib.proc.returncode == bare.proc.returncode
    assert with_lib.proc.stdout == bare.proc.stdout
    assert respan_lines(with_lib.proc.stderr) == [
        "respan: RESPAN_API_KEY is not set: traffic is logged, not routed"]
    if not client.startswith("py:"):   # Python's messages hold object addresses
        rest = [l for l in with_lib.stderr.splitlines() if not l.startswith("respan:")]
        assert rest == bare.stderr.splitlines()
    assert router.requests() == []
    assert read_log(respan_env["RESPAN_LOG"], type="request") == []
    assert_no_secrets(respan_env["RESPAN_LOG"], key)


# --------------------------------------------------------------------------
# A libcurl whose TLS is GnuTLS (Debian's libcurl-gnutls.so.4): layer 2
# leaves its URLs alone, and the GnuTLS layer routes its session instead
# (test_gnutls_clients.py has the routed calls). Where the library does not
# route (capture mode), the call goes where the program sent it, unchanged,
# and is logged; no not_routed event says libcurl could not be reached.

NSS_REASON = ("libcurl in this program does its TLS with another library than OpenSSL "
              "or GnuTLS (NSS, ...): its provider URLs are left alone, only the "
              "base-URL variables can route it")


@pytest.mark.parametrize("flags", ["", "-u"])
@pytest.mark.parametrize("call", ["openai", "anthropic", "gemini-query"])
def test_libcurl_on_gnutls_is_left_alone_and_logged_in_capture_mode(
        call, flags, router, provider_standin, respan_env, pki, client_bin, tmp_path):
    respan_env["RESPAN_MODE"] = "capture"
    call = CALLS[call]
    key = CURL_CLIENT_KEYS[call.provider]
    run_call(f"curl_gnutls_client {flags}", call, respan_env, key, tmp_path, client_bin,
             connect=f"127.0.0.1:{provider_standin.port}", cafile=pki["ca"])
    assert router.requests() == [] and router.errors() == []
    [req] = provider_standin.requests()
    assert req.sni == call.host
    check_unchanged(req, call, key, respan_env["RESPAN_API_KEY"])
    check_log(respan_env, call, key, routed=False, layer="gnutls", sent=[req])


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_libcurl_on_gnutls_is_routed_not_reported(fail, router, respan_env, client_bin,
                                                  tmp_path):
    """It used to be left alone with a not_routed event (and refused under
    RESPAN_FAIL=closed); now the GnuTLS layer routes it, fail open or closed."""
    respan_env["RESPAN_FAIL"] = fail
    call = CALLS["openai"]
    key = CURL_CLIENT_KEYS["openai"]
    run_call("curl_gnutls_client", call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.header("authorization") == f"Bearer {respan_env['RESPAN_API_KEY']}"
    log = read_log(respan_env["RESPAN_LOG"])
    assert [r for r in log if r["type"] == "event"] == []
    assert [r["layer"] for r in log if r["type"] == "request"] == ["gnutls"]
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


def test_libcurl_on_nss_is_left_alone_and_reported(router, provider_standin, respan_env, pki,
                                                   tmp_path):
    """A libcurl on a TLS library the library has no layer for (NSS): its
    URLs are left alone and a not_routed event says why; the router gets
    nothing."""
    import os
    from pathlib import Path
    lib = Path("/usr/lib/x86_64-linux-gnu/libcurl-nss.so.4")
    if not lib.exists():
        pytest.skip("libcurl-nss.so.4 (Debian's libcurl3-nss) is not installed")
    if os.environ.get("RESPAN_SAN_RUNTIME"):
        pytest.skip("libcurl-nss hangs in its TLS set-up with an ASan runtime preloaded, "
                    "librespan or not (as libcurl-gnutls does: standin/helpers.run)")
    exe = tmp_path / "curl_nss_client"
    src = Path(__file__).resolve().parent / "clients" / "curl_client.c"
    run(["cc", "-o", exe, src, lib], env=clean_env(tmp_path, PATH="/usr/bin:/bin"),
        check=True)
    call = CALLS["openai"]
    key = CURL_CLIENT_KEYS["openai"]
    run([exe, "-c", f"127.0.0.1:{provider_standin.port}", "-a", pki["ca"], "openai",
         call.body_bytes().decode()], env=respan_env)
    assert router.requests() == []
    log = read_log(respan_env["RESPAN_LOG"])
    events = {(e["event"], e.get("host"), e.get("detail")) for e in log}
    assert ("not_routed", call.host, NSS_REASON) in events
    assert [r for r in log if r["type"] == "request"] == []
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


def test_libcurl_on_openssl_is_still_routed_beside_it(router, respan_env, client_bin,
                                                      tmp_path):
    """The check is of the libcurl in use, not a global switch."""
    call = CALLS["openai"]
    key = CURL_CLIENT_KEYS["openai"]
    run_call("curl_client", call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.header("authorization") == f"Bearer {respan_env['RESPAN_API_KEY']}"
    assert not [e for e in read_log(respan_env["RESPAN_LOG"]) if e["type"] == "event"]


# --------------------------------------------------------------------------
# Programs that never call an LLM


def _untouched_programs(router_port: int, tmp_path) -> dict:
    token = "Bearer unrelated-service-token-5d1f0c9a"
    url = f"https://router.test:{router_port}/api/chat/completions"
    return {
        "true": ["true"],
        "ls": ["ls", "-la", "/usr/lib/os-release", "/etc/hostname"],
        "sh": ["sh", "-c", "echo out; echo err >&2; exit 3"],
        "python": ["/usr/bin/python3", "-c",
                   "import ssl, sys; print(ssl.OPENSSL_VERSION); sys.exit(5)"],
        # HTTPS to another service, by a name that is neither a provider's
        # nor the router's (the stand-in, under another name of its cert).
        "curl-other-https": ["curl", "-sS", "--resolve", f"router.test:{router_port}:127.0.0.1",
                             "-H", f"Authorization: {token}", "-H", "X-Mine: 1",
                             "--data-binary", '{"model": "local"}', url],
        "python-other-https": ["/usr/bin/python3", "-c", (
            "import http.client, ssl, sys\n"
            f"c = http.client.HTTPSConnection('127.0.0.1', {router_port},"
            " context=ssl.create_default_context(cafile=sys.argv[1]))\n"
            "c.request('POST', '/api/chat/completions', body=b'{}',"
            f" headers={{'Authorization': '{token}'}})\n"
            "print(c.getresponse().read().decode())"), "CA"],
    }


def _timeless(out: bytes) -> bytes:
    """The stand-in's answers carry the second they were made in."""
    return re.sub(rb'"created": ?\d+', b'"created": 0', out)


@pytest.mark.parametrize("program", ["true", "ls", "sh", "python", "curl-other-https",
                                     "python-other-https"])
def test_program_without_llm_calls_is_untouched(program, router, respan_env, pki, tmp_path):
    argv = _untouched_programs(router.port, tmp_path)[program]
    argv = [pki["ca"] if a == "CA" else a for a in argv]
    env = dict(respan_env, CURL_CA_BUNDLE=pki["ca"])   # curl trusts the stand-in's CA
    bare = run(argv, env={k: v for k, v in env.items() if k != "LD_PRELOAD"})
    bare_reqs = router.requests()
    router.clear()
    with_lib = run(argv, env=env)
    assert (with_lib.returncode, _timeless(with_lib.stdout), with_lib.stderr) == \
        (bare.returncode, _timeless(bare.stdout), bare.stderr)
    reqs = router.requests()
    assert len(reqs) == len(bare_reqs)
    for got, want in zip(reqs, bare_reqs):
        assert (got.path, got.body) == (want.path, want.body)
        assert [h for h in got.headers if h[0] != "Host"] == \
            [h for h in want.headers if h[0] != "Host"]
        assert got.header("authorization") == "Bearer unrelated-service-token-5d1f0c9a"
    assert read_log(respan_env["RESPAN_LOG"]) == []


# --------------------------------------------------------------------------
# A router whose certificate does not verify: every client fails with a TLS
# error, nothing reaches the router, the key is never sent.

BAD_CERT_CLIENTS = [OSSL, OSSL + " -n -x", "curl_client", "curl_client -u", "curl",
                    "curl --http1.1", "py:http.client", "py:urllib", "py:requests",
                    "py:httpx", "py:aiohttp"]
# Programs that verify nothing themselves: the router is still verified.
CARELESS_CLIENTS = ["curl -k", "py:requests --insecure", "py:aiohttp --insecure",
                    "py:http.client --insecure", OSSL + " -y"]


@pytest.fixture(scope="module", params=["wrong_ca", "badname"])
def _bad_router(request, pki):
    kind = {"wrong_ca": "wrong", "badname": "badname"}[request.param]
    with Router(pki[f"{kind}_cert"], pki[f"{kind}_key"]) as r:
        yield r


@pytest.fixture
def bad_router(_bad_router):
    _bad_router.clear()
    return _bad_router


@pytest.mark.parametrize("client", BAD_CERT_CLIENTS + CARELESS_CLIENTS)
def test_router_certificate_that_does_not_verify_is_refused(client, bad_router, pki, librespan,
                                                            client_bin, tmp_path):
    env = make_respan_env(tmp_path, bad_router, pki, preload=librespan)
    call = CALLS["anthropic" if client.startswith("curl_client") else "openai"]
    key = CURL_CLIENT_KEYS[call.provider] if client.startswith("curl_client") \
        else provider_key(call)
    res = run_call(client, call, env, key, tmp_path, client_bin, check=False)
    assert res.proc.returncode != 0, res.proc.stdout[:300]
    err = res.stderr.lower()
    assert "certificate" in err or "verif" in err, err
    assert bad_router.requests() == []
    # Refused in the handshake, or (libcurl checks the name itself) right after.
    assert [e["kind"] for e in bad_router.errors()] in (["tls_handshake"], [])
    assert [r for r in read_log(env["RESPAN_LOG"]) if r["type"] != "event"] == []
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], key)


@pytest.mark.parametrize("client", CARELESS_CLIENTS)
def test_careless_client_still_reaches_a_good_router(client, router, respan_env, client_bin,
                                                     tmp_path):
    call = CALLS["openai"]
    key = provider_key(call)
    res = run_call(client, call, respan_env, key, tmp_path, client_bin)
    [(status, body)] = res.answers
    check_answer(call, status, body)
    assert len(router.requests()) == 1


def test_no_key_and_no_call_prints_nothing(respan_env):
    """A process that never calls a provider says nothing of the missing key
    (LD_PRELOAD=librespan.so make would print it once per command)."""
    del respan_env["RESPAN_API_KEY"]
    done = run(["/bin/sh", "-c", "true; /usr/bin/env >/dev/null"], env=respan_env)
    assert done.returncode == 0
    assert done.stderr == b""
