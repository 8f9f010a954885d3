"""Ruby, Perl and PHP programs under librespan, run by Debian's interpreters.

The clients are in clients/interp/: Ruby's Net::HTTP (its openssl
extension), Perl's LWP::UserAgent (LWP::Protocol::https, IO::Socket::SSL,
Net::SSLeay) and PHP's curl extension (libcurl, which PHP loads with
RTLD_DEEPBIND: the dlopen hook leaves that flag out). Each POSTs to a
provider by its own URL, verifying the peer and its name as it always does,
and prints {"status": N, "body_base64": ...}; --connect ADDR:PORT sends the
TCP connection elsewhere while SNI, Host and the name check stay the URL's.

Ruby and Perl are routed by the resolver and the OpenSSL layer ("openssl"
records, SNI localhost); their own name checks (post_connection_check,
IO::Socket::SSL's verify_hostname) are answered for the verified router
certificate only. PHP's libcurl is routed by the libcurl layer ("curl"
records, the URL rewritten); PHP's own TLS streams ("php-streams": the
https:// wrapper, or an ssl:// socket) by the OpenSSL layer, PHP checking
the name itself through X509_get_ext_d2i. A router whose certificate does not verify
gets nothing, and a connection the program makes to a provider by address
is refused rather than let through unrouted."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from standin.certs import make_named_cert
from standin.clients import (CALLS, as_provider, check_answer, check_log, check_routed,
                             provider_key)
from standin.helpers import (USERS_OWN_BASE_URL, assert_no_secrets, clean_env,
                             make_respan_env, read_log, run)
from standin.router import Router

CLIENTS = Path(__file__).resolve().parent / "clients" / "interp"

# Interpreter, script, and a one-liner proving the libraries it needs load.
INTERPRETERS = {
    "ruby": ("/usr/bin/ruby", "client.rb", ["-rnet/http", "-ropenssl", "-e", "0"], "ruby"),
    "perl": ("/usr/bin/perl", "client.pl",
             ["-MLWP::UserAgent", "-MLWP::Protocol::https", "-MIO::Socket::SSL", "-e", "0"],
             "libwww-perl liblwp-protocol-https-perl libio-socket-ssl-perl"),
    "php": ("/usr/bin/php", "client.php",
            ["-r", 'exit(function_exists("curl_init") ? 0 : 1);'], "php-cli php-curl"),
}
# PHP's own TLS streams (ext/openssl: the https:// wrapper, ssl:// sockets),
# which check the peer's name themselves, run by the same script.
STREAMS = "php-streams"
LANGS = [*INTERPRETERS, STREAMS]


def _missing() -> list:
    """The Debian packages whose interpreter or libraries do not work here."""
    out = []
    for exe, _, probe, packages in INTERPRETERS.values():
        ok = Path(exe).exists() and subprocess.run(
            [exe, *probe], env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL, capture_output=True, timeout=30).returncode == 0
        if not ok:
            out.append(packages)
    return out


_MISSING = _missing()
if _MISSING and os.environ.get("RESPAN_BUILD"):
    # `make e2e` (and so CI) runs after scripts/install-deps: missing is a failure.
    raise RuntimeError("Debian's interpreters are not all usable: install "
                       + ", ".join(_MISSING) + " (scripts/install-deps lists them)")
if _MISSING:
    pytest.skip("Debian's interpreters are not all usable here; install "
                + ", ".join(_MISSING) + " (scripts/install-deps lists them)",
                allow_module_level=True)

# The layer whose records a routed call leaves in the log.
LAYER = {"ruby": "openssl", "perl": "openssl", "php": "curl", STREAMS: "openssl"}
ROUTED_CALLS = ["openai", "openai-stream", "anthropic", "anthropic-stream", "gemini-query",
                "gemini-stream", "vertexai-stream"]
# The variable layer 1 puts the Respan key in, per provider.
KEY_VARIABLE = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_AUTH_TOKEN",
                "gemini": "GEMINI_API_KEY"}


@pytest.fixture(scope="module")
def _provider_standin(pki):
    """A stand-in serving the provider names (test CA), reached by address."""
    cert, key = make_named_cert(pki, "providers")
    with Router(cert, key) as r:
        yield r


def _reset(standin):
    """Forget what STANDIN received (clear() drops the override too)."""
    standin.clear()
    standin.override = as_provider
    return standin


@pytest.fixture
def provider_standin(_provider_standin):
    return _reset(_provider_standin)


def interp_call(lang, call, key, env, tmp_path, connect=None, cafile=None):
    """Make CALL with LANG's client under ENV: (process, [(status, body)])."""
    exe, script, _, _ = INTERPRETERS["php" if lang == STREAMS else lang]
    data = Path(tmp_path) / "request.body"
    data.write_bytes(call.body_bytes())
    argv = [exe, CLIENTS / script, call.url(key), "--data-file", data]
    if lang == STREAMS:
        argv.append("--streams")
    for name, value in call.headers(key):
        argv += ["-H", f"{name}: {value}"]
    if connect:
        argv += ["--connect", connect]
    if cafile:
        argv += ["--cafile", cafile]
    proc = run(argv, env=env)
    answers = []
    if proc.returncode == 0:
        for line in proc.stdout.decode().splitlines():
            obj = json.loads(line)
            answers.append((obj["status"], base64.b64decode(obj["body_base64"])))
    return proc, answers


def _err(proc) -> str:
    return proc.stderr.decode(errors="replace")


# --------------------------------------------------------------------------
# Routed


@pytest.mark.parametrize("call", ROUTED_CALLS)
@pytest.mark.parametrize("lang", LANGS)
def test_routed_and_logged(lang, call, router, respan_env, tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    proc, answers = interp_call(lang, call, key, respan_env, tmp_path)
    assert proc.returncode == 0, _err(proc)
    [(status, body)] = answers
    check_answer(call, status, body)
    [req] = router.requests()
    # PHP's libcurl reaches the router by its rewritten URL: SNI localhost too.
    assert req.sni == "localhost"
    check_routed(req, call, respan_env, key)
    [(rec, _)] = check_log(respan_env, call, key, layer=LAYER[lang], sent=[req])
    exe = INTERPRETERS["php" if lang == STREAMS else lang][0]
    assert rec["exe"] == str(Path(exe).resolve())   # e.g. /usr/bin/ruby3.1


# --------------------------------------------------------------------------
# A router that does not verify gets nothing


def _refused(lang, cert, pki, librespan, tmp_path):
    """LANG calls OpenAI through a router serving CERT: the call fails, the
    router receives nothing, no request is logged and no key is in the log."""
    call = CALLS["openai"]
    key = provider_key(call)
    with Router(*cert, record=str(tmp_path / "received.jsonl")) as bad:
        env = make_respan_env(tmp_path, bad, pki, preload=librespan)
        proc, answers = interp_call(lang, call, key, env, tmp_path)
    assert proc.returncode == 3, (proc.returncode, _err(proc))
    assert answers == []
    assert bad.requests() == []
    # It did reach the router: the client refused the handshake.
    assert [e["kind"] for e in bad.errors()] == ["tls_handshake"], bad.errors()
    assert read_log(env["RESPAN_LOG"], type="request") == []
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], key)
    return proc, env


@pytest.mark.parametrize("which", ["wrong_ca", "wrong_name", "provider_names"])
@pytest.mark.parametrize("lang", LANGS)
def test_untrusted_router_gets_nothing(lang, which, pki, librespan, tmp_path):
    """A router signed by a CA nobody trusts, one whose certificate names
    another host, and one from the test CA carrying only the provider names
    (the program's own name check would pass it, the library's does not):
    the name-check answer is given for none of them."""
    cert = {"wrong_ca": (pki["wrong_cert"], pki["wrong_key"]),
            "wrong_name": (pki["badname_cert"], pki["badname_key"]),
            "provider_names": make_named_cert(pki, "providers_interp")}[which]
    _refused(lang, cert, pki, librespan, tmp_path)


# --------------------------------------------------------------------------
# A provider reached by address cannot be routed


@pytest.mark.parametrize("how", ["closed", "keyed"])
@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-query"])
@pytest.mark.parametrize("lang", ["ruby", "perl", STREAMS])
def test_provider_by_address_is_refused(lang, call, how, router, provider_standin,
                                        respan_env, pki, tmp_path):
    """The program connects to a provider's address itself, trusting the
    provider's CA: the library did not hand out that address, so the session
    cannot be routed and the handshake is refused. "closed": the user's own
    base URL for the provider (the process holds no Respan key for it) and
    RESPAN_FAIL=closed. "keyed": fail open, but layer 1 put the Respan key in
    the provider's key variable, so letting it through would send it there."""
    call = CALLS[call]
    key = provider_key(call)
    if how == "closed":
        respan_env["RESPAN_FAIL"] = "closed"
        respan_env.update(USERS_OWN_BASE_URL[call.provider])
    proc, answers = interp_call(lang, call, key, respan_env, tmp_path,
                                connect=f"127.0.0.1:{provider_standin.port}",
                                cafile=pki["ca"])
    assert proc.returncode == 3, (proc.returncode, _err(proc))
    assert answers == []
    assert provider_standin.requests() == []
    assert router.requests() == []
    log = read_log(respan_env["RESPAN_LOG"])
    assert [r for r in log if r["type"] != "event"] == []
    [blocked] = [e for e in log if e["event"] == "blocked"]
    assert blocked["host"] == call.host
    if how == "closed":
        assert blocked["detail"].startswith("RESPAN_FAIL=closed"), blocked
    else:
        assert blocked["detail"].startswith(
            f"the Respan key is in {KEY_VARIABLE[call.provider]}"), blocked
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


@pytest.mark.parametrize("how", ["closed", "keyed"])
@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-query"])
def test_php_connect_to_is_routed_anyway(call, how, router, provider_standin, respan_env,
                                         pki, tmp_path):
    """PHP's CURLOPT_CONNECT_TO names the provider's host:443, but the
    libcurl layer has already rewritten the URL to the router's, so the entry
    matches nothing: the call is routed as usual, whatever RESPAN_FAIL or the
    user's own base URL say, and the provider stand-in hears nothing."""
    call = CALLS[call]
    key = provider_key(call)
    if how == "closed":
        respan_env["RESPAN_FAIL"] = "closed"
        respan_env.update(USERS_OWN_BASE_URL[call.provider])
    proc, answers = interp_call("php", call, key, respan_env, tmp_path,
                                connect=f"127.0.0.1:{provider_standin.port}",
                                cafile=pki["ca"])
    assert proc.returncode == 0, _err(proc)
    [(status, body)] = answers
    check_answer(call, status, body)
    assert provider_standin.requests() == []
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="curl", sent=[req])


# --------------------------------------------------------------------------
# The scripts on their own


@pytest.mark.parametrize("lang", LANGS)
def test_clients_work_and_verify_without_the_library(lang, router, provider_standin, pki,
                                                     tmp_path):
    """No preload: each script reaches the provider stand-in by address and
    gets its answer, the request as the program made it; and it refuses,
    on its own, a peer from an unknown CA (no --cafile) and one whose name is
    not the provider's (the router's certificate). So a refusal above is the
    library's doing, not a broken script."""
    env = clean_env(tmp_path)
    for cid in ("openai", "openai-stream", "anthropic-stream", "gemini-query"):
        call = CALLS[cid]
        key = provider_key(call)
        _reset(provider_standin)
        proc, answers = interp_call(lang, call, key, env, tmp_path,
                                    connect=f"127.0.0.1:{provider_standin.port}",
                                    cafile=pki["ca"])
        assert proc.returncode == 0, _err(proc)
        [(status, body)] = answers
        check_answer(call, status, body)
        [req] = provider_standin.requests()
        assert req.sni == call.host
        assert req.path == call.target.format(key=key)
        assert req.header_all("host") == [call.host]
        if call.cred:
            assert req.header_all(call.cred[0]) == [call.cred[1].format(key=key)]
        assert req.body == call.body_bytes()
    call = CALLS["openai"]
    key = provider_key(call)
    _reset(provider_standin)
    for connect, cafile in ((provider_standin.port, None), (router.port, pki["ca"])):
        proc, answers = interp_call(lang, call, key, env, tmp_path,
                                    connect=f"127.0.0.1:{connect}", cafile=cafile)
        assert proc.returncode == 3, (proc.returncode, _err(proc))
        assert answers == []
    assert provider_standin.requests() == [] and router.requests() == []
