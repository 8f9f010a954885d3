"""`respan run` (docs/contract.md#the-respan-command) and its loopback relay (docs/relay.md).

respan run prepends librespan.so to LD_PRELOAD, turns its options into
RESPAN_* variables, runs PROGRAM, forwards signals to it and exits with its
status. In route mode with a key it also runs a relay on 127.0.0.1 for
programs with TLS compiled in: layer 1 points their base URLs at it
(RESPAN_RELAY), and it carries their plain HTTP to the router over verified
TLS, with the Respan key, logging with layer "relay". The relay's clients
here are Python http.client scripts (plain HTTP, like Node's fetch to an
http:// base URL).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from standin.helpers import assert_no_secrets, make_respan_env, make_secret, read_log, run
from standin.router import ASSISTANT_TEXT, INPUT_TOKENS, OUTPUT_TOKENS, Router

PYTHON = "/usr/bin/python3"
RELAY_RE = re.compile(r"^http://127\.0\.0\.1:(\d+)/api/$")


@pytest.fixture
def env(respan_env) -> dict:
    """respan_env for `respan run`: it sets LD_PRELOAD itself."""
    respan_env.pop("LD_PRELOAD", None)
    return respan_env


def respan(cli, args, env, timeout=60, **kw) -> subprocess.CompletedProcess:
    return run([cli, *args], env=env, timeout=timeout, **kw)


def env_lines(out: bytes) -> dict:
    return dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)


def relay_records(log) -> tuple:
    requests = [r for r in read_log(log, type="request") if r.get("layer") == "relay"]
    by_id = {r["id"]: r for r in read_log(log, type="response")}
    return requests, [by_id.get(r["id"]) for r in requests]


# --------------------------------------------------------------------------
# The command line


def test_version_and_help(respan_cli, env):
    done = respan(respan_cli, ["--version"], env)
    assert done.returncode == 0
    assert re.fullmatch(rb"respan \d+\.\d+\.\d+\n", done.stdout), done.stdout
    for args in (["--help"], ["-h"]):
        done = respan(respan_cli, args, env)
        assert done.returncode == 0 and b"respan run" in done.stdout
        assert b"respan log" in done.stdout and b"respan doctor" in done.stdout
    done = respan(respan_cli, ["run", "--help"], env)
    assert done.returncode == 0
    for opt in (b"--log", b"--mode", b"--fail", b"--base-url", b"--route-provider",
                b"--ca-file"):
        assert opt in done.stdout


@pytest.mark.parametrize("args,message", [
    ([], b"usage: respan run"),
    (["log"], b"usage: respan log show"),
    (["doctor", "--bogus"], b"respan doctor: unknown option --bogus"),
    (["--bogus"], b"respan: unknown option --bogus"),
    (["run"], b"respan run: no PROGRAM given"),
    (["run", "--bogus", "--", "true"], b"respan run: unknown option --bogus"),
    (["run", "--mode"], b"respan run: --mode needs a value"),
], ids=["nothing", "log", "doctor", "option", "no-program", "run-option", "no-value"])
def test_usage_errors(respan_cli, env, args, message):
    done = respan(respan_cli, args, env)
    assert done.returncode == 2
    assert message in done.stderr, done.stderr


@pytest.mark.parametrize("script,status", [
    ("exit 0", 0), ("exit 3", 3), ("kill -KILL $$", 128 + 9), ("kill -TERM $$", 128 + 15),
])
def test_exit_status_is_the_programs(respan_cli, env, script, status):
    done = respan(respan_cli, ["run", "--", "/bin/sh", "-c", script], env)
    assert done.returncode == status, done.stderr


def test_program_not_found_or_not_executable(respan_cli, env, tmp_path):
    done = respan(respan_cli, ["run", "--", str(tmp_path / "missing")], env)
    assert done.returncode == 127 and b"No such file" in done.stderr
    plain = tmp_path / "plain"
    plain.write_text("not a program\n")
    done = respan(respan_cli, ["run", "--", str(plain)], env)
    assert done.returncode == 126 and b"Permission denied" in done.stderr


WAIT_FOR_SIGNAL = r"""
import signal, sys, time
sig = int(sys.argv[1])
if sys.argv[2] == "handle":
    signal.signal(sig, lambda *a: sys.exit(42))
else:
    signal.signal(sig, signal.SIG_DFL)
print("ready", flush=True)
# Short sleeps: a handler only runs between bytecodes, and a signal caught
# just before a long sleep started would wait for its end.
for _ in range(600):
    time.sleep(0.05)
sys.exit(1)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
                         ids=lambda s: s.name)
@pytest.mark.parametrize("how", ["default", "handle"])
def test_signals_are_forwarded(respan_cli, env, sig, how):
    proc = subprocess.Popen([str(respan_cli), "run", "--", PYTHON, "-c", WAIT_FOR_SIGNAL,
                             str(int(sig)), how],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(sig)
        status = proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert status == (42 if how == "handle" else 128 + int(sig))


# --------------------------------------------------------------------------
# The environment PROGRAM gets


def test_options_become_variables(respan_cli, env, pki, tmp_path):
    base = "https://router.example:8443/gw/"
    done = respan(respan_cli, ["run", "--log", "rel/traffic.jsonl", "--mode", "capture",
                               "--fail", "closed", "--base-url", base,
                               "--route-provider", "vertex_ai", "--ca-file", pki["ca"],
                               "--", "/usr/bin/env"], env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = env_lines(done.stdout)
    assert got["RESPAN_LOG"] == str(tmp_path / "rel/traffic.jsonl")  # made absolute
    assert got["RESPAN_MODE"] == "capture"
    assert got["RESPAN_FAIL"] == "closed"
    assert got["RESPAN_BASE_URL"] == base
    assert got["RESPAN_ROUTE_PROVIDER"] == "vertex_ai"
    assert got["RESPAN_CA_FILE"] == pki["ca"]
    assert "RESPAN_RELAY" not in got            # capture mode: no relay
    # Variables respan run has no option for pass through.
    assert got["RESPAN_API_KEY"] == env["RESPAN_API_KEY"]


def test_ld_preload_is_prepended(respan_cli, env, librespan):
    lib = str(librespan.resolve())
    done = respan(respan_cli, ["run", "--", "/usr/bin/env"], env)
    assert env_lines(done.stdout)["LD_PRELOAD"] == lib
    env["LD_PRELOAD"] = "libz.so.1 libm.so.6"
    done = respan(respan_cli, ["run", "--", "/usr/bin/env"], env)
    assert done.returncode == 0, done.stderr
    assert env_lines(done.stdout)["LD_PRELOAD"] == f"{lib}:libz.so.1:libm.so.6"


def test_library_location(respan_cli, env, librespan, tmp_path):
    env["RESPAN_LIBRARY"] = str(tmp_path / "nowhere" / "librespan.so")
    done = respan(respan_cli, ["run", "--", "/bin/true"], env)
    assert done.returncode == 125
    assert b"RESPAN_LIBRARY=" in done.stderr and b"not a readable file" in done.stderr
    # The install layout: PREFIX/bin/respan finds PREFIX/lib/librespan.so.
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "bin" / "respan").symlink_to(respan_cli)   # real path: the build dir
    del env["RESPAN_LIBRARY"]
    done = respan(tmp_path / "bin" / "respan", ["run", "--", "/usr/bin/env"], env)
    assert env_lines(done.stdout)["LD_PRELOAD"] == str(librespan.resolve())
    installed = tmp_path / "prefix"
    (installed / "bin").mkdir(parents=True)
    (installed / "lib").mkdir()
    (installed / "bin" / "respan").write_bytes(respan_cli.read_bytes())
    (installed / "bin" / "respan").chmod(0o755)
    (installed / "lib" / "librespan.so").write_bytes(librespan.read_bytes())
    done = respan(installed / "bin" / "respan", ["run", "--", "/usr/bin/env"], env)
    assert env_lines(done.stdout)["LD_PRELOAD"] == str(installed / "lib" / "librespan.so")
    os.unlink(installed / "lib" / "librespan.so")
    done = respan(installed / "bin" / "respan", ["run", "--", "/bin/true"], env)
    assert done.returncode == 125 and b"cannot find librespan.so" in done.stderr


@pytest.mark.parametrize("option,value,message", [
    ("--mode", "foo", "RESPAN_MODE=foo: expected route, capture or off"),
    ("--fail", "maybe", "RESPAN_FAIL=maybe: expected open or closed"),
    ("--base-url", "http://router.example/api/", "RESPAN_BASE_URL=http://router.example/api/"),
    ("--route-provider", "a b", "RESPAN_ROUTE_PROVIDER=a b: expected a name"),
    ("--ca-file", "/nonexistent/ca.pem", "RESPAN_CA_FILE=/nonexistent/ca.pem: No such file"),
    ("--log", "", "--log: empty value"),
])
def test_bad_option_value_is_an_error(respan_cli, env, tmp_path, option, value, message):
    marker = tmp_path / "ran"
    done = respan(respan_cli, ["run", option, value, "--", "/usr/bin/touch", str(marker)], env)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert f"respan: {option}: " in err and message in err, err
    assert not marker.exists()


@pytest.mark.parametrize("intercept", ["auto", "off"])
def test_relay_variables(respan_cli, env, intercept):
    """The base URLs name respan run's relay (plain HTTP: no CA for it). In a
    process whose TLS the library cannot see (env here, node, Bun), layer 1
    names the interception CA in NODE_EXTRA_CA_CERTS, since respan run's
    relay intercepts too; with RESPAN_INTERCEPT=off, no CA at all."""
    env["RESPAN_INTERCEPT"] = intercept
    done = respan(respan_cli, ["run", "--", "/usr/bin/env"], env)
    assert done.returncode == 0, done.stderr
    got = env_lines(done.stdout)
    relay = got["RESPAN_RELAY"]
    assert RELAY_RE.match(relay), relay
    assert got["OPENAI_BASE_URL"] == relay
    assert got["ANTHROPIC_BASE_URL"] == relay + "anthropic/"
    assert got["GOOGLE_GEMINI_BASE_URL"] == relay + "google/gemini"
    if intercept == "off":
        assert "NODE_EXTRA_CA_CERTS" not in got
        return
    ca = respan(respan_cli, ["ca", "path"], env)
    assert ca.returncode == 0, ca.stderr
    assert got["NODE_EXTRA_CA_CERTS"] == ca.stdout.decode().strip()


def test_no_relay_without_key(respan_cli, env):
    del env["RESPAN_API_KEY"]
    env["RESPAN_RELAY"] = "http://127.0.0.1:9/api/"     # stale, from an outer run
    done = respan(respan_cli, ["run", "--", "/usr/bin/env"], env)
    assert done.returncode == 0, done.stderr
    assert "RESPAN_RELAY" not in env_lines(done.stdout)


# --------------------------------------------------------------------------
# The relay

# Posts each call of argv[1] (JSON) on one keep-alive connection to the relay
# ($RESPAN_RELAY + path); prints [{status, body}] as JSON.
RELAY_CLIENT = r"""
import http.client, json, os, sys
from urllib.parse import urlsplit
u = urlsplit(os.environ["RESPAN_RELAY"])
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
out = []
for call in json.loads(sys.argv[1]):
    conn.request("POST", u.path + call["path"], body=json.dumps(call["body"]).encode(),
                 headers={"Content-Type": "application/json", **call["headers"]})
    resp = conn.getresponse()
    out.append({"status": resp.status, "body": resp.read().decode("utf-8", "replace")})
print(json.dumps(out))
"""


def relay_calls(openai_key: str, anthropic_key: str) -> list:
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    msgs = {"model": "claude-sonnet-4-5", "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}]}
    oa = {"Authorization": f"Bearer {openai_key}"}
    an = {"x-api-key": anthropic_key, "anthropic-version": "2023-06-01"}
    return [
        {"path": "chat/completions", "body": chat, "headers": oa},
        {"path": "chat/completions", "body": dict(chat, stream=True,
                                                  stream_options={"include_usage": True}),
         "headers": oa},
        {"path": "anthropic/v1/messages", "body": msgs, "headers": an},
        {"path": "anthropic/v1/messages", "body": dict(msgs, stream=True), "headers": an},
    ]


def run_relay_client(cli, env, tmp_path, calls, args=()) -> list:
    script = tmp_path / "relay_client.py"
    script.write_text(RELAY_CLIENT)
    done = respan(cli, ["run", *args, "--", PYTHON, script, json.dumps(calls)], env)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout)


def check_relayed(router, env, calls, answers, provider_keys):
    key = env["RESPAN_API_KEY"]
    authority = urlsplit(env["RESPAN_BASE_URL"]).netloc
    assert [a["status"] for a in answers] == [200] * len(calls), answers
    reqs = router.requests()
    assert [r.path for r in reqs] == ["/api/" + c["path"] for c in calls]
    assert len({r.conn for r in reqs}) == 1        # one program connection, one router one
    for req in reqs:
        assert req.header_all("host") == [authority]
        assert req.alpn == "http/1.1" and req.sni == "localhost"
        if req.path.startswith("/api/anthropic/"):
            assert req.header_all("x-api-key") == [key]
            assert req.header("authorization") is None
        else:
            assert req.header_all("authorization") == [f"Bearer {key}"]
        raw = json.dumps(req.headers)
        for pk in provider_keys:
            assert pk not in raw

    log = env["RESPAN_LOG"]
    requests, responses = relay_records(log)
    assert len(requests) == len(calls), read_log(log)
    for call, rq, rs in zip(calls, requests, responses):
        provider = "anthropic" if call["path"].startswith("anthropic/") else "openai"
        assert rq["provider"] == provider and rq["routed"] is True
        assert rq["method"] == "POST"
        assert rq["routed_url"] == env["RESPAN_BASE_URL"] + call["path"]
        assert rs is not None, rq
        assert rs["status"] == 200 and rs["error"] is None
        assert rs["sse"] is bool(call["body"].get("stream"))
        assert rs["output_text"] == ASSISTANT_TEXT
        assert rs["usage"]["input_tokens"] == INPUT_TOKENS
        assert rs["usage"]["output_tokens"] == OUTPUT_TOKENS
    assert_no_secrets(log, key, *provider_keys)


def test_relay_routes_and_logs(respan_cli, env, router, tmp_path):
    keys = (make_secret("sk-proj-"), make_secret("sk-ant-api03-"))
    calls = relay_calls(*keys)
    answers = run_relay_client(respan_cli, env, tmp_path, calls)
    check_relayed(router, env, calls, answers, keys)
    assert ASSISTANT_TEXT in answers[0]["body"]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_relay_to_router_by_address(respan_cli, tmp_path, pki, request, host):
    """An IP-literal base URL: no SNI, the address is what the certificate
    must name (it does: 127.0.0.1 and ::1 are in its subjectAltName)."""
    router = request.getfixturevalue("router" if host == "127.0.0.1" else "router6")
    env = make_respan_env(tmp_path, router, pki, host=host)
    env["RESPAN_DEBUG"] = "1"
    calls = relay_calls("sk-none", "sk-none")[:1]
    script = tmp_path / "relay_client.py"
    script.write_text(RELAY_CLIENT)
    done = respan(respan_cli, ["run", "--", PYTHON, script, json.dumps(calls)], env)
    assert done.returncode == 0, done.stderr
    assert re.search(rb"respan: relay http://127\.0\.0\.1:\d+/api/ -> https://", done.stderr)
    assert json.loads(done.stdout)[0]["status"] == 200
    [req] = router.requests()
    authority = f"[{host}]:{router.port}" if ":" in host else f"{host}:{router.port}"
    assert req.header_all("host") == [authority]
    assert req.sni is None


def test_relay_adds_respan_headers(respan_cli, env, router, tmp_path):
    env["RESPAN_ROUTE_PROVIDER_ANTHROPIC"] = "vertex_ai"
    env["RESPAN_PARAMS"] = '{"customer_identifier": "c-1"}'
    calls = relay_calls("sk-none", "sk-none")[::2]
    run_relay_client(respan_cli, env, tmp_path, calls, ["--route-provider", "openai-x"])
    openai, anthropic = router.requests()
    assert openai.header_all("x-respan-route-provider") == ["openai-x"]
    assert anthropic.header_all("x-respan-route-provider") == ["vertex_ai"]
    for req in (openai, anthropic):
        params = req.header("x-data-respan-params")
        assert params and json.loads(base64.b64decode(params)) == {"customer_identifier": "c-1"}


def test_relay_request_without_credential_gets_the_providers_style(respan_cli, env, router,
                                                                   tmp_path):
    """A request with no key at all (hand-made): the Respan key goes in the
    style of the provider the path names, as in-process (x-goog-api-key for
    Gemini, not a Bearer token)."""
    calls = [
        {"path": "chat/completions", "headers": {},
         "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}},
        {"path": "anthropic/v1/messages", "headers": {"anthropic-version": "2023-06-01"},
         "body": {"model": "claude-sonnet-4-5", "max_tokens": 64,
                  "messages": [{"role": "user", "content": "hi"}]}},
        {"path": "google/gemini/v1beta/models/gemini-2.0-flash:generateContent", "headers": {},
         "body": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}},
    ]
    answers = run_relay_client(respan_cli, env, tmp_path, calls)
    assert [a["status"] for a in answers] == [200, 200, 200], answers
    key = env["RESPAN_API_KEY"]
    creds = [[(n.lower(), v) for n, v in r.headers
              if n.lower() in ("authorization", "x-api-key", "x-goog-api-key")]
             for r in router.requests()]
    assert creds == [[("authorization", f"Bearer {key}")], [("x-api-key", key)],
                     [("x-goog-api-key", key)]]


def test_relay_with_librespan_already_preloaded(respan_cli, env, router, librespan, tmp_path):
    """LD_PRELOAD=librespan.so respan run ...: respan runs itself again
    without the library, so the relay's own TLS is not hooked (no second
    record) and layer 1 points at the relay, not the router."""
    env["LD_PRELOAD"] = str(librespan)
    done = respan(respan_cli, ["run", "--", "/usr/bin/env"], env)
    got = env_lines(done.stdout)
    assert RELAY_RE.match(got["OPENAI_BASE_URL"]), got
    assert got["LD_PRELOAD"] == str(librespan.resolve())
    assert "RESPAN_RUN_REEXEC" not in got
    keys = (make_secret("sk-proj-"), make_secret("sk-ant-api03-"))
    calls = relay_calls(*keys)[:1]
    answers = run_relay_client(respan_cli, env, tmp_path, calls)
    check_relayed(router, env, calls, answers, keys)
    assert len(read_log(env["RESPAN_LOG"], type="request")) == 1


# N connections at once, each a streamed chat completion; prints the statuses.
PARALLEL_CLIENT = r"""
import http.client, json, os, sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit
u = urlsplit(os.environ["RESPAN_RELAY"])
body = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": []}).encode()
def call(i):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", u.path + "chat/completions", body=body,
                 headers={"Content-Type": "application/json", "X-Standin-Delay-Ms": "20"})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status if "stand-in" in text else -resp.status
with ThreadPoolExecutor(int(sys.argv[1])) as pool:
    print(json.dumps(list(pool.map(call, range(int(sys.argv[1]))))))
"""


def test_relay_parallel_connections(respan_cli, env, router, tmp_path):
    n = 24
    script = tmp_path / "parallel.py"
    script.write_text(PARALLEL_CLIENT)
    done = respan(respan_cli, ["run", "--", PYTHON, script, str(n)], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [200] * n
    assert len(router.requests()) == n
    requests, responses = relay_records(env["RESPAN_LOG"])
    assert len(requests) == n
    assert len({r["id"] for r in requests}) == n
    for rs in responses:
        assert rs["sse"] is True and rs["error"] is None
        assert rs["output_text"] == ASSISTANT_TEXT


# The same user's request through the relay, and a request of uid 65534.
UID_PROBE = r"""
import json, os, socket, subprocess, sys, http.client
from urllib.parse import urlsplit
u = urlsplit(os.environ["RESPAN_RELAY"])
probe = '''
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    s.sendall(b"POST /api/chat/completions HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2\\r\\n\\r\\n{}")
    print(repr(s.recv(65536)))
except OSError as e:
    print("error", type(e).__name__)
'''
other = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "/usr/bin/python3", "-c", probe, u.hostname, str(u.port)],
                       env={"PATH": "/usr/bin:/bin"}, capture_output=True, timeout=20)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
conn.request("POST", u.path + "chat/completions", body=b'{"model": "m"}',
             headers={"Content-Type": "application/json"})
own = conn.getresponse().status
print(json.dumps({"other": other.stdout.decode(), "err": other.stderr.decode(), "own": own}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv --reuid needs root")
def test_relay_refuses_other_users(respan_cli, env, router, tmp_path):
    script = tmp_path / "uid_probe.py"
    script.write_text(UID_PROBE)
    done = respan(respan_cli, ["run", "--", PYTHON, script], env)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["own"] == 200
    assert got["other"].strip() in ("b''", "error ConnectionResetError"), got
    assert len(router.requests()) == 1              # only our own
    [event] = [e for e in read_log(env["RESPAN_LOG"], type="event")
               if e["event"] == "relay_refused"]
    assert "uid 65534" in event["detail"], event


# What a web page in a browser of the same user could send.
BROWSER_LIKE = r"""
import http.client, json, os, sys
from urllib.parse import urlsplit
u = urlsplit(os.environ["RESPAN_RELAY"])
out = []
for extra in json.loads(sys.argv[1]):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("POST", u.path + "chat/completions", skip_host=True)
    for name, value in extra.items():
        conn.putheader(name, value.replace("{port}", str(u.port)))
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "2")
    conn.endheaders(b"{}")
    resp = conn.getresponse()
    out.append([resp.status, resp.read().decode()])
    conn.close()
print(json.dumps(out))
"""


def test_relay_refuses_web_pages(respan_cli, env, router, tmp_path):
    script = tmp_path / "browser_like.py"
    script.write_text(BROWSER_LIKE)
    cases = [
        {"Host": "127.0.0.1:{port}", "Origin": "https://evil.example"},
        {"Host": "evil.example:{port}"},                      # DNS rebinding
        {"Host": "localhost:{port}"},                         # fine
    ]
    done = respan(respan_cli, ["run", "--", PYTHON, script, json.dumps(cases)], env)
    assert done.returncode == 0, done.stderr
    (s1, b1), (s2, b2), (s3, _) = json.loads(done.stdout)
    assert (s1, s2, s3) == (403, 403, 200)
    assert b1.startswith("respan relay: refused: ") and "Origin" in b1
    assert "Host" in b2
    [req] = router.requests()
    assert req.header_all("host") == [urlsplit(env["RESPAN_BASE_URL"]).netloc]
    refused = [e for e in read_log(env["RESPAN_LOG"], type="event")
               if e["event"] == "relay_refused"]
    assert len(refused) == 2, refused
    assert len(relay_records(env["RESPAN_LOG"])[0]) == 1


@pytest.mark.parametrize("which", ["wrong_ca", "wrong_name"])
def test_untrusted_router_gets_nothing(respan_cli, env, pki, tmp_path, which):
    cert, key = ((pki["wrong_cert"], pki["wrong_key"]) if which == "wrong_ca"
                 else (pki["badname_cert"], pki["badname_key"]))
    provider_key = make_secret("sk-proj-")
    with Router(cert, key, record=str(tmp_path / "bad.jsonl")) as bad:
        env["RESPAN_BASE_URL"] = bad.url_for("localhost")
        calls = relay_calls(provider_key, "x")[:1]
        answers = run_relay_client(respan_cli, env, tmp_path, calls)
        assert bad.requests() == []
    [answer] = answers
    assert answer["status"] == 502
    assert answer["body"].startswith("respan relay: cannot reach the router: ")
    assert "certificate" in answer["body"], answer
    log = env["RESPAN_LOG"]
    assert relay_records(log) == ([], [])
    events = [e for e in read_log(log, type="event") if e["event"] == "relay_error"]
    assert len(events) == 1 and "certificate" in events[0]["detail"], events
    assert_no_secrets(log, env["RESPAN_API_KEY"], provider_key)


def test_router_down_gives_502(respan_cli, env, tmp_path):
    import socket
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env["RESPAN_BASE_URL"] = f"https://127.0.0.1:{port}/api/"
    [answer] = run_relay_client(respan_cli, env, tmp_path, relay_calls("k", "k")[:1])
    assert answer["status"] == 502 and "Connection refused" in answer["body"]


# Starts a slow stream, reads its first bytes, and exits without waiting.
EXIT_MID_STREAM = r"""
import os, socket
from urllib.parse import urlsplit
u = urlsplit(os.environ["RESPAN_RELAY"])
body = b'{"model": "gpt-4o-mini", "stream": true, "messages": []}'
s = socket.create_connection((u.hostname, u.port))
s.sendall(b"POST " + u.path.encode() + b"chat/completions HTTP/1.1\r\n"
          b"Host: " + u.netloc.encode() + b"\r\n"
          b"X-Standin-Delay-Ms: 3000\r\nContent-Type: application/json\r\n"
          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
print(s.recv(65536).split(b"\r\n")[0].decode(), flush=True)
os._exit(0)
"""


def test_relay_ends_with_the_program(respan_cli, env, router, tmp_path):
    script = tmp_path / "exit_mid_stream.py"
    script.write_text(EXIT_MID_STREAM)
    start = time.monotonic()
    done = respan(respan_cli, ["run", "--", PYTHON, script], env)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"HTTP/1.1 200 OK\n"
    assert elapsed < 6, elapsed     # the stream would run for many seconds more
    requests, responses = relay_records(env["RESPAN_LOG"])
    assert len(requests) == 1
    assert responses[0]["status"] == 200 and responses[0]["error"] == "process exited"
