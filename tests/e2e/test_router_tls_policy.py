"""The router's TLS policy in the OpenSSL layer (docs/contract.md#layers,
preload/routertls.c): the router's certificate must carry the router's name
exactly; a partial wildcard (rou*.lab.test) does not count, although
OpenSSL alone would accept it.

A partial wildcard needs a router name of three labels that resolves to
loopback. The client runs in a mount namespace of its own where a hosts
file of the test's is bound over /etc/hosts (unshare -m, as root): nothing
outside that one process sees it. Without that right the test is skipped
with the reason."""

from __future__ import annotations

import subprocess

import pytest

from standin.certs import make_named_cert
from standin.clients import CALLS, http_request, provider_key
from standin.helpers import assert_no_secrets, make_respan_env, read_log, run
from standin.router import Router

ROUTER_NAME = "router.lab.test"


@pytest.fixture(scope="module")
def hosts_file(tmp_path_factory):
    """A hosts file naming ROUTER_NAME 127.0.0.1, usable in a private mount
    namespace; skips when this machine does not allow one."""
    path = tmp_path_factory.mktemp("hosts") / "hosts"
    path.write_text(f"127.0.0.1 localhost {ROUTER_NAME}\n::1 localhost\n")
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            'mount --bind "$0" /etc/hosts && getent hosts "$1"',
                            str(path), ROUTER_NAME],
                           capture_output=True, timeout=30)
    if probe.returncode != 0 or b"127.0.0.1" not in probe.stdout:
        pytest.skip("no private mount namespace here (unshare -m needs root): "
                    + probe.stderr.decode(errors="replace").strip())
    return path


def call_through(router_cert, pki, librespan, client_bin, hosts_file, tmp_path):
    """ossl_client calls api.openai.com under the library, with the router
    at https://ROUTER_NAME:PORT/api/ serving ROUTER_CERT. Returns (the
    client's exit status, what the router received, the environment)."""
    cert, key = router_cert
    call = CALLS["openai"]
    provider = provider_key(call)
    with Router(cert, key, record=str(tmp_path / "received.jsonl")) as router:
        env = make_respan_env(tmp_path, router, pki, preload=librespan, host=ROUTER_NAME)
        reqfile = tmp_path / "request.http"
        reqfile.write_bytes(http_request(call, provider))
        done = run(["unshare", "-m", "sh", "-c",
                    'mount --bind "$0" /etc/hosts && exec "$@"', hosts_file,
                    client_bin("ossl_client"), call.host, reqfile], env=env)
        received = router.requests()
    assert_no_secrets(env["RESPAN_LOG"], env["RESPAN_API_KEY"], provider)
    return done, received, env


def test_router_named_exactly_is_used(pki, librespan, client_bin, hosts_file, tmp_path):
    """The control: the same set-up with the router's exact name works, so
    the refusal below is the wildcard's doing."""
    cert = make_named_cert(pki, "router_lab", (ROUTER_NAME,))
    done, received, env = call_through(cert, pki, librespan, client_bin, hosts_file,
                                       tmp_path)
    assert done.returncode == 0, done.stderr
    [req] = received
    assert req.sni == ROUTER_NAME
    assert [r["routed"] for r in read_log(env["RESPAN_LOG"], type="request")] == [True]


def test_partial_wildcard_router_gets_nothing(pki, librespan, client_bin, hosts_file,
                                              tmp_path):
    cert = make_named_cert(pki, "router_partial", ("rou*.lab.test",))
    done, received, env = call_through(cert, pki, librespan, client_bin, hosts_file,
                                       tmp_path)
    assert done.returncode != 0, done.stdout
    assert received == []                   # no request, so no key, went there
    assert read_log(env["RESPAN_LOG"], type="request") == []
