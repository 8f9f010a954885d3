"""Libraries loaded with RTLD_DEEPBIND (docs/layers.md#rtld_deepbind).

A loader that links no TLS library at all dlopens a client module (the
tests' curl_client.c or ossl_client.c, built as a shared library) with
RTLD_DEEPBIND, as PHP loads its extensions. Without the library's dlopen,
the module's libcurl, libssl and libc come before the preload in its
lookup scope and no hook sees a call: no route, no record, no audit. With
it, the module is routed and logged like any program, and a connection it
makes by itself to a provider is audited (refused under RESPAN_FAIL=closed).

The dlopen hook must leave the caller as glibc sees it: a program's plugin
found through the program's own RUNPATH ($ORIGIN/plugins) by a bare name
still loads, with and without RTLD_DEEPBIND."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from standin.certs import make_named_cert
from standin.clients import (CALLS, CURL_CLIENT_CALLS, CURL_CLIENT_KEYS, check_log, check_routed,
                             http_request, parse_responses, provider_key)
from standin.helpers import USERS_OWN_BASE_URL, assert_no_secrets, read_log, run
from standin.router import Router

HERE = Path(__file__).resolve().parent

LOADER = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
/* loader [-d] MODULE ARGS...: dlopen MODULE (-d: with RTLD_DEEPBIND), run its client_main. */
int main(int argc, char **argv)
{
	int flags = RTLD_NOW | RTLD_LOCAL;
	if (argc > 1 && strcmp(argv[1], "-d") == 0) {
		flags |= RTLD_DEEPBIND;
		argv++;
		argc--;
	}
	if (argc < 2)
		return 2;
	void *h = dlopen(argv[1], flags);
	int (*client_main)(int, char **) = h ? (int (*)(int, char **))dlsym(h, "client_main") : 0;
	if (!client_main) {
		fprintf(stderr, "loader: %s\n", dlerror());
		return 2;
	}
	return client_main(argc - 1, argv + 1);
}
"""

PLUGIN = "int plugin_main(int argc, char **argv) { (void)argc; (void)argv; return 42; }\n"


def build(argv: list) -> None:
    done = subprocess.run(["cc", *argv], capture_output=True, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr.decode()


@pytest.fixture(scope="module")
def deep(tmp_path_factory) -> dict:
    """The loader, and the two client modules beside it."""
    d = tmp_path_factory.mktemp("deepbind")
    (d / "loader.c").write_text(LOADER)
    build(["-o", str(d / "loader"), str(d / "loader.c")])
    build(["-shared", "-fPIC", "-Dmain=client_main", "-o", str(d / "libcurlclient.so"),
           str(HERE / "clients" / "curl_client.c"), "-lcurl"])
    build(["-shared", "-fPIC", "-Dmain=client_main", "-o", str(d / "libosslclient.so"),
           str(HERE / "clients" / "ossl_client.c"), "-lssl", "-lcrypto"])
    return {"loader": d / "loader", "curl": d / "libcurlclient.so",
            "ossl": d / "libosslclient.so"}


@pytest.mark.parametrize("deepbind", [True, False], ids=["deepbind", "plain"])
@pytest.mark.parametrize("call", CURL_CLIENT_CALLS)
def test_libcurl_module_is_routed(call, deepbind, deep, router, respan_env):
    call = CALLS[call]
    key = CURL_CLIENT_KEYS[call.provider]
    argv = [deep["loader"], *(["-d"] if deepbind else []), deep["curl"], call.provider,
            call.body_bytes().decode()]
    done = run(argv, env=respan_env, timeout=60)
    assert done.returncode == 0, done.stderr
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="curl", sent=[req])


@pytest.mark.parametrize("call", ["openai", "anthropic-stream", "gemini-query"])
def test_openssl_module_is_routed(call, deep, router, respan_env, tmp_path):
    """The module's own getaddrinfo, connect and SSL_write, all in its
    RTLD_DEEPBIND scope, reach the hooks: the OpenSSL layer routes it."""
    call = CALLS[call]
    key = provider_key(call)
    reqfile = tmp_path / "request.http"
    reqfile.write_bytes(http_request(call, key))
    done = run([deep["loader"], "-d", deep["ossl"], call.host, reqfile], env=respan_env,
               timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(parse_responses(done.stdout)) == 1
    [req] = router.requests()
    assert req.sni == "localhost"
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="openssl", sent=[req])


def test_connection_it_makes_itself_is_audited(deep, pki, respan_env, tmp_path):
    """The module connects to a provider by an address of its own: the
    egress audit sees its ClientHello, a bypass, refused under
    RESPAN_FAIL=closed; nothing reaches the provider."""
    call = CALLS["openai"]
    key = provider_key(call)
    reqfile = tmp_path / "request.http"
    reqfile.write_bytes(http_request(call, key))
    respan_env.update(USERS_OWN_BASE_URL["openai"], RESPAN_FAIL="closed")
    cert, cert_key = make_named_cert(pki, "providers_deepbind")
    with Router(cert, cert_key, record=str(tmp_path / "provider.jsonl")) as provider:
        done = run([deep["loader"], "-d", deep["ossl"], "-a", f"127.0.0.1:{provider.port}",
                    "-C", pki["ca"], call.host, reqfile], env=respan_env, timeout=60)
        assert provider.requests() == []
    assert done.returncode != 0
    blocked = [e for e in read_log(respan_env["RESPAN_LOG"], type="event")
               if e["event"] == "blocked"]
    assert [e["host"] for e in blocked] == [call.host]
    assert blocked[0]["detail"].startswith("RESPAN_FAIL=closed"), blocked
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


@pytest.fixture(scope="module")
def runpath_loader(tmp_path_factory) -> Path:
    """A loader whose RUNPATH is $ORIGIN/plugins, and a plugin found there only."""
    d = tmp_path_factory.mktemp("runpath")
    (d / "plugins").mkdir()
    (d / "plugin.c").write_text(PLUGIN)
    (d / "loader.c").write_text(LOADER.replace('dlsym(h, "client_main")',
                                               'dlsym(h, "plugin_main")'))
    build(["-shared", "-fPIC", "-o", str(d / "plugins" / "libplugin.so"), str(d / "plugin.c")])
    build(["-o", str(d / "loader"), str(d / "loader.c"),
           "-Wl,--enable-new-dtags,-rpath,$ORIGIN/plugins"])
    return d / "loader"


@pytest.mark.parametrize("deepbind", [True, False], ids=["deepbind", "plain"])
def test_plugin_found_through_the_programs_runpath(deepbind, runpath_loader, respan_env):
    """glibc searches the RUNPATH of the object that called dlopen: the
    library's dlopen must not become that caller."""
    argv = [runpath_loader, *(["-d"] if deepbind else []), "libplugin.so"]
    alone = run(argv, env={"PATH": "/usr/bin:/bin"})
    assert alone.returncode == 42, alone.stderr
    done = run(argv, env=respan_env)
    assert done.returncode == 42, done.stderr
