"""Layer 1 (the SDK variables set before main) and the egress audit
(docs/contract.md#layers), with real programs: /usr/bin/env and a shell child for the
environment, Python's ssl module (libssl, dynamically loaded) and Node
(OpenSSL compiled in) for ClientHellos that bypass the router."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from standin.helpers import USERS_OWN_BASE_URL, assert_no_secrets, make_secret, read_log, run

HERE = Path(__file__).resolve().parent

SDK_VARS = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL",
            "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY", "GOOGLE_GEMINI_BASE_URL",
            "GOOGLE_VERTEX_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY",
            "NODE_EXTRA_CA_CERTS")

# A TLS client that sends SNI api.openai.com to whatever address it is given,
# the way a program that resolved the name itself would.
PY_SNI_CLIENT = r"""
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
ctx.check_hostname = False
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    t = ctx.wrap_socket(s, server_hostname=sys.argv[2])
    print("connected")
except OSError as e:
    print("error", type(e).__name__)
    sys.exit(3)
"""

NODE_SNI_CLIENT = r"""
const tls = require('node:tls');
const s = tls.connect({host: '127.0.0.1', port: Number(process.argv[2]),
                       servername: process.argv[3], rejectUnauthorized: false});
s.on('secureConnect', () => { console.log('connected'); s.end(); });
s.on('error', e => { console.log('error', e.code); process.exit(3); });
"""


def env_of(proc) -> dict:
    out = {}
    for line in proc.stdout.decode().splitlines():
        name, _, value = line.partition("=")
        if name in SDK_VARS:
            out[name] = value
    return out


def with_libssl(env: dict) -> dict:
    """ENV for a process in which libssl is loaded from the start (as in curl
    or PHP): the OpenSSL layer sees its TLS, so layer 1 names the router."""
    return {**env, "LD_PRELOAD": env["LD_PRELOAD"] + ":libssl.so.3"}


def test_sdk_variables_set_before_main(respan_env, router):
    """A process whose TLS the library can see (libssl loaded): the base URLs
    name the router itself, and node gets RESPAN_CA_FILE for it."""
    respan_env["ANTHROPIC_API_KEY"] = make_secret("sk-ant-")
    proc = run(["/usr/bin/env"], env=with_libssl(respan_env), check=True)
    key, base = respan_env["RESPAN_API_KEY"], router.url_for("localhost")
    assert env_of(proc) == {
        "OPENAI_BASE_URL": base, "OPENAI_API_KEY": key,
        "ANTHROPIC_BASE_URL": base + "anthropic/", "ANTHROPIC_AUTH_TOKEN": key,
        "GOOGLE_GEMINI_BASE_URL": base + "google/gemini",
        "GEMINI_API_KEY": key, "GOOGLE_API_KEY": key,
        "NODE_EXTRA_CA_CERTS": respan_env["RESPAN_CA_FILE"],
    }
    # Children inherit the changed environment (and the library, which
    # leaves what is already set alone).
    proc = run(["/bin/sh", "-c", "exec /usr/bin/env"], env=with_libssl(respan_env),
               check=True)
    assert env_of(proc)["ANTHROPIC_AUTH_TOKEN"] == key
    assert "ANTHROPIC_API_KEY" not in env_of(proc)


STAND_IN = re.compile(r"^http://127\.(1[2-9][0-9]|2[0-5][0-9])\.[0-9]{1,3}\.[0-9]{1,3}:[0-9]+/api/$")


def test_sdk_variables_name_the_relay_where_tls_is_unseen(respan_env, router):
    """No libssl or libgnutls in the process (env, sh, node, Bun): the base
    URLs name the library's relay by its stand-in address (RESPAN_RELAY),
    plain HTTP; node trusts the interception CA (NODE_EXTRA_CA_CERTS);
    nothing is started for it. A child inherits the same stand-in (one
    relay per tree). With RESPAN_INTERCEPT=off there is no CA variable."""
    respan_env["ANTHROPIC_API_KEY"] = make_secret("sk-ant-")
    proc = run(["/usr/bin/env"], env=respan_env, check=True)
    out = dict(line.partition("=")[::2] for line in proc.stdout.decode().splitlines())
    relay, key = out["RESPAN_RELAY"], respan_env["RESPAN_API_KEY"]
    assert STAND_IN.match(relay), relay
    ca = Path(respan_env["HOME"]) / ".local" / "state" / "respan" / "ca" / "ca.pem"
    assert env_of(proc) == {
        "OPENAI_BASE_URL": relay, "OPENAI_API_KEY": key,
        "ANTHROPIC_BASE_URL": relay + "anthropic/", "ANTHROPIC_AUTH_TOKEN": key,
        "GOOGLE_GEMINI_BASE_URL": relay + "google/gemini",
        "GEMINI_API_KEY": key, "GOOGLE_API_KEY": key,
        "NODE_EXTRA_CA_CERTS": str(ca),     # the interception CA, made just now
    }
    assert ca.exists()
    proc = run(["/bin/sh", "-c", "exec /usr/bin/env"], env=respan_env, check=True)
    out = dict(line.partition("=")[::2] for line in proc.stdout.decode().splitlines())
    assert STAND_IN.match(out["RESPAN_RELAY"])
    assert env_of(proc)["OPENAI_BASE_URL"] == out["RESPAN_RELAY"]
    proc = run(["/usr/bin/env"], env={**respan_env, "RESPAN_INTERCEPT": "off"}, check=True)
    assert "NODE_EXTRA_CA_CERTS" not in env_of(proc)


def test_user_choices_left_alone(respan_env, router):
    respan_env.update(OPENAI_BASE_URL="https://proxy.internal/v1",
                      OPENAI_API_KEY="sk-user-own",
                      ANTHROPIC_BASE_URL="https://api.anthropic.com",  # the provider: ours
                      GOOGLE_GENAI_USE_VERTEXAI="true")
    got = env_of(run(["/usr/bin/env"], env=with_libssl(respan_env), check=True))
    base = router.url_for("localhost")
    assert got["OPENAI_BASE_URL"] == "https://proxy.internal/v1"
    assert got["OPENAI_API_KEY"] == "sk-user-own"
    assert got["ANTHROPIC_BASE_URL"] == base + "anthropic/"
    assert got["GOOGLE_GEMINI_BASE_URL"] == base + "google/vertexai/"
    assert got["GOOGLE_VERTEX_BASE_URL"] == base + "google/vertexai/"


@pytest.mark.parametrize("change", [{"RESPAN_MODE": "capture"}, {"RESPAN_MODE": "off"},
                                    {"RESPAN_API_KEY": None}])
def test_nothing_set_unless_routing(respan_env, change):
    for k, v in change.items():
        if v is None:
            respan_env.pop(k)
        else:
            respan_env[k] = v
    respan_env["ANTHROPIC_API_KEY"] = "sk-ant-kept"
    got = env_of(run(["/usr/bin/env"], env=respan_env, check=True))
    assert got == {"ANTHROPIC_API_KEY": "sk-ant-kept"}


def test_node_ca_bundle_merges_users_file(respan_env, pki, tmp_path):
    respan_env["NODE_EXTRA_CA_CERTS"] = pki["wrong_ca"]
    respan_env["XDG_RUNTIME_DIR"] = str(tmp_path)
    got = env_of(run(["/usr/bin/env"], env=with_libssl(respan_env), check=True))
    bundle = Path(got["NODE_EXTRA_CA_CERTS"])
    assert bundle.parent == tmp_path / "respan"
    assert bundle.read_text() == Path(pki["wrong_ca"]).read_text() + Path(pki["ca"]).read_text()
    assert bundle.stat().st_mode & 0o777 == 0o600
    # A child sees the bundle and leaves it be (no bundle of a bundle).
    again = env_of(run(["/usr/bin/env"], env=with_libssl({**respan_env, **got}), check=True))
    assert again["NODE_EXTRA_CA_CERTS"] == str(bundle)


def sni_client(kind: str, tmp_path: Path) -> list:
    if kind == "python":
        script = tmp_path / "sni.py"
        script.write_text(PY_SNI_CLIENT)
        return ["/usr/bin/python3", script]
    node = shutil.which("node", path="/usr/bin:/usr/local/bin")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "sni.js"
    script.write_text(NODE_SNI_CLIENT)
    return [node, script]


REASONS = {"python": "libssl or libgnutls is loaded", "node": "TLS is compiled into this program"}


@pytest.mark.parametrize("kind", ["python", "node"])
@pytest.mark.parametrize("fail", ["open", "closed", "keyed"])
def test_unrouted_clienthello(kind, fail, respan_env, router, pki, tmp_path):
    """A ClientHello for a provider the library did not route. With the
    user's own OpenAI base URL (so the process does not hold the Respan key
    for OpenAI): a bypass, or refused under RESPAN_FAIL=closed. With layer
    1's variables ("keyed": OPENAI_API_KEY is the Respan key): refused even
    though RESPAN_FAIL is open, and the event names the variable."""
    if fail == "keyed":
        respan_env["RESPAN_FAIL"] = "open"
    else:
        respan_env["RESPAN_FAIL"] = fail
        respan_env.update(USERS_OWN_BASE_URL["openai"])
    argv = sni_client(kind, tmp_path)
    if kind == "python":
        argv += [router.port, "api.openai.com", pki["ca"]]
    else:
        argv += [router.port, "api.openai.com"]
    proc = run(argv, env=respan_env)
    events = read_log(respan_env["RESPAN_LOG"], type="event")
    by_name = {e["event"]: e for e in events}
    assert by_name["not_routed"]["host"] == "api.openai.com"
    assert REASONS[kind] in by_name["not_routed"]["detail"]
    if fail == "open":
        assert proc.returncode == 0 and b"connected" in proc.stdout
        assert by_name["bypass"]["host"] == "api.openai.com"
        assert "blocked" not in by_name
    else:
        assert proc.returncode == 3 and b"error" in proc.stdout
        assert by_name["blocked"]["host"] == "api.openai.com"
        assert "bypass" not in by_name
        assert router.requests() == []
        detail = by_name["blocked"]["detail"]
        if fail == "keyed":
            assert detail.startswith("the Respan key is in OPENAI_API_KEY"), detail
        else:
            assert detail.startswith("RESPAN_FAIL=closed"), detail
    for e in events:
        assert e["pid"] > 0 and e["exe"].startswith("/")
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"])


@pytest.mark.parametrize("kind", ["python", "node"])
def test_other_hosts_are_not_audited(kind, respan_env, router, pki, tmp_path):
    """A ClientHello for a host that is no provider: no event, no refusal."""
    respan_env["RESPAN_FAIL"] = "closed"
    argv = sni_client(kind, tmp_path) + [router.port, "localhost"]
    if kind == "python":
        argv.append(pki["ca"])
    proc = run(argv, env=respan_env)
    assert proc.returncode == 0, proc.stdout
    assert read_log(respan_env["RESPAN_LOG"], type="event") == []


def test_audit_off_in_capture_mode(respan_env, router, pki, tmp_path):
    respan_env.update(RESPAN_MODE="capture", RESPAN_FAIL="closed")
    argv = sni_client("python", tmp_path) + [router.port, "api.openai.com", pki["ca"]]
    proc = run(argv, env=respan_env)
    assert proc.returncode == 0
    assert [e for e in read_log(respan_env["RESPAN_LOG"], type="event")
            if e["event"] in ("bypass", "blocked")] == []


def test_closed_refuses_unroutable_names(respan_env, tmp_path):
    """Under RESPAN_FAIL=closed, without interception, a program whose TLS
    cannot be routed cannot even resolve a provider name (node: OpenSSL
    compiled in)."""
    node = shutil.which("node", path="/usr/bin:/usr/local/bin")
    if node is None:
        pytest.skip("node is not installed")
    respan_env["RESPAN_FAIL"] = "closed"
    respan_env["RESPAN_INTERCEPT"] = "off"     # else the relay would take it
    script = tmp_path / "lookup.js"
    # Three lookups, as a retrying program makes: refused each time, reported once.
    script.write_text("const dns = require('node:dns');"
                      "const go = n => dns.lookup('api.anthropic.com', (e, a) => {"
                      " console.log(e ? e.code : 'resolved ' + a); if (n > 1) go(n - 1); });"
                      "go(3);")
    proc = run([node, script], env=respan_env, check=True)
    lines = proc.stdout.split()
    assert len(lines) == 3 and not any(x.startswith(b"resolved") for x in lines), lines
    [ev] = [e for e in read_log(respan_env["RESPAN_LOG"], type="event")
            if e["event"] == "blocked"]
    assert ev["host"] == "api.anthropic.com"
