"""Programs on GnuTLS under librespan (docs/contract.md#layers, layer 5).

wget (Debian's, on libgnutls.so.30), curl_gnutls_client (curl_client.c
built on Debian's libcurl-gnutls.so.4) and gnutls_client (clients/gnutls_client.c,
GnuTLS directly: non-blocking with a small send buffer, small writes, the
name checked with gnutls_certificate_verify_peers3 or
gnutls_session_set_verify_cert) call the providers by their own URLs.
The resolver answers the provider name with the router (layer 3), and the
GnuTLS hooks retarget the session (SNI, the router's credentials and name,
ALPN http/1.1) and rewrite the request head; both programs then check the
certificate's name against the provider's themselves
(gnutls_x509_crt_check_hostname), which the layer answers for the verified
router's certificate only. A router whose certificate does not verify gets
nothing: the program's call fails, no key goes anywhere."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from standin.certs import make_named_cert
from standin.clients import (CALLS, CURL_CLIENT_CALLS, CURL_CLIENT_KEYS, check_answer,
                             check_log, check_routed, http_request, parse_responses,
                             provider_key, run_call)
from standin.helpers import assert_no_secrets, make_respan_env, read_log, run
from standin.router import Router
# The private /etc/hosts of test_router_tls_policy (a name with three labels).
from test_router_tls_policy import ROUTER_NAME, hosts_file  # noqa: F401


HERE = Path(__file__).resolve().parent


def large_body(call, kib: int) -> bytes:
    """CALL's body with KIB KiB of printable filler."""
    filler = "".join(chr(0x20 + (i * 7919) % 95) for i in range(kib * 1024))
    return json.dumps(dict(call.body, user=filler)).encode()


@pytest.fixture(scope="session")
def gnutls_client(tmp_path_factory) -> Path:
    """clients/gnutls_client.c, built here with the project's warnings."""
    exe = tmp_path_factory.mktemp("gnutls_client") / "gnutls_client"
    done = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-g", "-Wall", "-Wextra",
                           "-Wshadow", "-Wconversion", "-Werror", "-o", str(exe),
                           str(HERE / "clients" / "gnutls_client.c"), "-lgnutls"],
                          capture_output=True, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr.decode()
    return exe


LOADER = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	int (*client_main)(int, char **) = h ? (int (*)(int, char **))dlsym(h, "client_main") : 0;
	if (!client_main) {
		fprintf(stderr, "loader: %s\n", dlerror());
		return 2;
	}
	return client_main(argc - 1, argv + 1);
}
"""


@pytest.fixture(scope="session")
def gnutls_dlopen_client(tmp_path_factory) -> list:
    """gnutls_client.c as a module linked with libgnutls, loaded RTLD_LOCAL
    by a program that links no TLS library at all (as Python loads _ssl)."""
    d = tmp_path_factory.mktemp("gnutls_dlopen")
    mod, loader = d / "libgtclient.so", d / "loader"
    (d / "loader.c").write_text(LOADER)
    for argv in (["cc", "-shared", "-fPIC", "-Dmain=client_main", "-o", str(mod),
                  str(HERE / "clients" / "gnutls_client.c"), "-lgnutls"],
                 ["cc", "-o", str(loader), str(d / "loader.c"), "-ldl"]):
        done = subprocess.run(argv, capture_output=True, env={"PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr.decode()
    return [loader, mod]


def gnutls_call(exe, flags, call, key, env, tmp_path, body=None):
    """gnutls_client FLAGS: the raw request of CALL; returns (process, answers)."""
    reqfile = tmp_path / "request.http"
    reqfile.write_bytes(http_request(call, key, body))
    exe = exe if isinstance(exe, list) else [exe]
    proc = run([*exe, *flags.split(), call.host, reqfile], env=env, timeout=60)
    answers = parse_responses(proc.stdout) if proc.returncode == 0 else []
    return proc, answers


GNUTLS_VARIANTS = ["", "-n", "-c 1", "-c 7", "-n -c 100", "-V", "-n -V -c 33", "-2 -P",
                   "-n -2 -c 5 -P"]


@pytest.mark.parametrize("flags", GNUTLS_VARIANTS, ids=lambda f: f or "blocking")
@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-query"])
def test_gnutls_client(flags, call, gnutls_client, router, respan_env, tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    proc, answers = gnutls_call(gnutls_client, flags, call, key, respan_env, tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    [(status, _, got)] = answers
    check_answer(call, status, got)
    [req] = router.requests()
    assert req.sni == "localhost" and req.alpn in (None, "http/1.1")
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="gnutls", sent=[req])


@pytest.mark.parametrize("flags", ["", "-n -V"], ids=["blocking", "nonblocking"])
def test_gnutls_loaded_later_with_dlopen(flags, gnutls_dlopen_client, router, respan_env,
                                         tmp_path):
    """libgnutls arrives with a module dlopen'ed RTLD_LOCAL after start:
    the resolver sees it then, the hooks find its functions by handle."""
    call = CALLS["anthropic-stream"]
    key = provider_key(call)
    proc, answers = gnutls_call(gnutls_dlopen_client, flags, call, key, respan_env, tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    [(status, _, got)] = answers
    check_answer(call, status, got)
    [req] = router.requests()
    assert req.sni == "localhost"
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="gnutls", sent=[req])


@pytest.mark.parametrize("flags", ["-n", "-n -c 65536"])
def test_gnutls_client_again_and_short_writes(flags, gnutls_client, router, respan_env,
                                              tmp_path):
    """A non-blocking socket with a 4 KiB send buffer and a 1.5 MiB body:
    gnutls_record_send says GNUTLS_E_AGAIN many times and is called again
    with the same arguments; the program's counts stay its own and the body
    arrives byte for byte."""
    call = CALLS["openai"]
    key = provider_key(call)
    body = large_body(call, 1500)
    proc, answers = gnutls_call(gnutls_client, flags, call, key, respan_env, tmp_path, body)
    assert proc.returncode == 0, proc.stderr.decode()
    retried = int(re.search(rb"writes: \d+ short, (\d+) retried", proc.stderr).group(1))
    assert retried > 0, proc.stderr
    [req] = router.requests()
    check_routed(req, call, respan_env, key, body=body)
    check_log(respan_env, call, key, layer="gnutls", body=body, sent=[req])


@pytest.mark.parametrize("call", ["openai", "openai-stream", "anthropic-stream",
                                  "gemini-query", "vertexai-stream"])
def test_wget(call, router, respan_env, client_bin, tmp_path):
    call = CALLS[call]
    key = provider_key(call)
    run_call("wget", call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.sni == "localhost" and req.alpn in (None, "http/1.1")
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="gnutls", sent=[req])


@pytest.mark.parametrize("flags", ["", "-u"], ids=["CURLOPT_URL", "CURLOPT_CURLU"])
@pytest.mark.parametrize("call", CURL_CLIENT_CALLS)
def test_curl_gnutls_client(flags, call, router, respan_env, client_bin, tmp_path):
    """libcurl-gnutls keeps its provider URL (layer 2 leaves a GnuTLS libcurl
    alone); layers 3 and 5 route it, ALPN offers http/1.1 only."""
    call = CALLS[call]
    key = CURL_CLIENT_KEYS[call.provider]
    run_call(f"curl_gnutls_client {flags}", call, respan_env, key, tmp_path, client_bin)
    [req] = router.requests()
    assert req.sni == "localhost" and req.alpn == "http/1.1"
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="gnutls", sent=[req])


def test_wget_streams_a_large_body(router, respan_env, client_bin, tmp_path):
    """A 1.5 MiB body: gnutls_record_send takes it a record at a time, the
    library answers for all of the program's bytes once its own are out."""
    call = CALLS["openai-stream"]
    key = provider_key(call)
    body = large_body(call, 1500)
    run_call("wget", call, respan_env, key, tmp_path, client_bin, body=body)
    [req] = router.requests()
    check_routed(req, call, respan_env, key, body=body)
    check_log(respan_env, call, key, layer="gnutls", body=body, sent=[req])


def test_curl_gnutls_client_large_body(router, respan_env, client_bin, tmp_path):
    """libcurl's sockets are non-blocking: a body of many records (it is one
    argument of the client, so under 128 KiB)."""
    call = CALLS["openai"]
    key = CURL_CLIENT_KEYS["openai"]
    body = large_body(call, 100)
    run_call("curl_gnutls_client", call, respan_env, key, tmp_path, client_bin, body=body)
    [req] = router.requests()
    check_routed(req, call, respan_env, key, body=body)
    check_log(respan_env, call, key, layer="gnutls", body=body, sent=[req])


def _refused(client, call, key, router_cert, pki, librespan, client_bin, tmp_path,
             gnutls_exe=None):
    """CLIENT calls through a router serving ROUTER_CERT: the call fails, the
    router receives nothing, and no key is in the log."""
    cert, cert_key = router_cert
    with Router(cert, cert_key, record=str(tmp_path / "received.jsonl")) as bad:
        env = make_respan_env(tmp_path, bad, pki, preload=librespan)
        if client.startswith("gnutls_client"):
            proc, _ = gnutls_call(gnutls_exe, client[len("gnutls_client"):], call, key, env,
                                  tmp_path)
        else:
            proc = run_call(client, call, env, key, tmp_path, client_bin, check=False).proc
        received = bad.requests()
    assert proc.returncode != 0, proc.stderr
    assert received == []
    assert read_log(env["RESPAN_LOG"], type="request") == []
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], key)
    return proc, env


@pytest.mark.parametrize("client", ["wget", "curl_gnutls_client", "gnutls_client",
                                    "gnutls_client -V"])
@pytest.mark.parametrize("which", ["wrong_ca", "wrong_name"])
def test_untrusted_router_gets_nothing(client, which, pki, librespan, client_bin,
                                       gnutls_client, tmp_path):
    """A router signed by a CA nobody trusts, or whose certificate names
    another host: the handshake fails (GnuTLS's own check, set for the
    router), and the program's own name check is not answered for it."""
    call = CALLS["openai"]
    key = CURL_CLIENT_KEYS["openai"] if client == "curl_gnutls_client" else provider_key(call)
    cert = ((pki["wrong_cert"], pki["wrong_key"]) if which == "wrong_ca" else
            (pki["badname_cert"], pki["badname_key"]))
    _refused(client, call, key, cert, pki, librespan, client_bin, tmp_path, gnutls_client)


def test_router_with_provider_names_only_gets_nothing(pki, librespan, client_bin, tmp_path):
    """A peer whose certificate carries the provider's name, from the test
    CA, but not the router's: the program's own check would pass, the
    library's does not."""
    call = CALLS["openai"]
    cert = make_named_cert(pki, "providers_gt")
    _refused("wget", call, provider_key(call), cert, pki, librespan, client_bin, tmp_path)


def test_partial_wildcard_router_gets_nothing(pki, librespan, client_bin, hosts_file,
                                              tmp_path):
    """*ter.lab.test passes GnuTLS's own check for router.lab.test (a leading
    '*' matches any part of a label there); the router policy refuses it
    before anything is written."""
    call = CALLS["openai"]
    key = provider_key(call)
    results = {}
    for name, dns in (("exact", ROUTER_NAME), ("partial", "*ter.lab.test")):
        cert, cert_key = make_named_cert(pki, f"router_gt_{name}", (dns,))
        with Router(cert, cert_key, record=str(tmp_path / f"{name}.jsonl")) as r:
            (tmp_path / name).mkdir()
            env = make_respan_env(tmp_path / name, r, pki, preload=librespan,
                                  host=ROUTER_NAME)
            out = tmp_path / name / "out"
            done = run(["unshare", "-m", "sh", "-c",
                        'mount --bind "$0" /etc/hosts && exec "$@"', hosts_file,
                        "wget", "--no-config", "--no-hsts", "-q", "-O", out,
                        "--header=Content-Type: application/json",
                        f"--header=Authorization: Bearer {key}",
                        f"--post-data={call.body_bytes().decode()}", call.url(key)], env=env)
            results[name] = (done, r.requests(), env)
        assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], key)
    done, received, env = results["exact"]
    assert done.returncode == 0, done.stderr
    assert [req.sni for req in received] == [ROUTER_NAME]
    done, received, env = results["partial"]
    assert done.returncode != 0
    assert received == []
    assert read_log(env["RESPAN_LOG"], type="request") == []
    # GnuTLS's handshake accepted it: the library's own check refused it.
    [blocked] = [e for e in read_log(env["RESPAN_LOG"], type="event")
                 if e["event"] == "blocked"]
    assert blocked["host"] == call.host
    assert "not verified" in blocked["detail"]


@pytest.mark.parametrize("client", ["wget", "curl_gnutls_client", "gnutls_client"])
def test_router_by_ipv6_address(client, router6, pki, librespan, client_bin, gnutls_client,
                                tmp_path):
    """The router named by an IP literal: no SNI is sent, the certificate is
    checked for the address."""
    env = make_respan_env(tmp_path, router6, pki, preload=librespan, host="::1")
    call = CALLS["anthropic"]
    key = CURL_CLIENT_KEYS["anthropic"] if client == "curl_gnutls_client" else provider_key(call)
    if client == "gnutls_client":
        proc, answers = gnutls_call(gnutls_client, "", call, key, env, tmp_path)
        assert proc.returncode == 0, proc.stderr.decode()
    else:
        run_call(client, call, env, key, tmp_path, client_bin)
    [req] = router6.requests()
    assert req.sni is None
    check_routed(req, call, env, key, host=f"[::1]:{router6.port}")
    check_log(env, call, key, layer="gnutls", sent=[req])
