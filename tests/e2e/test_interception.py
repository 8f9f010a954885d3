"""Interception (RESPAN_INTERCEPT=auto): provider calls of programs with TLS
compiled in, by their own URLs (docs/relay.md, "Interception").

nodesource's node has OpenSSL compiled in. A client with the provider URL
hard-coded, no base-URL variable and no CA variable set by the test,
resolves api.openai.com under plain LD_PRELOAD: the resolver answers with the
library relay's stand-in, and the relay answers the TLS handshake with a
certificate for api.openai.com from the local interception CA. Layer 1 put
that CA into NODE_EXTRA_CA_CERTS before node started; the CA was made then,
on first need. The relay routes the request with the Respan key and logs it.
A call to any other HTTPS host is left alone: its chain is the real
server's. RESPAN_INTERCEPT=off gives back the old refusal, and a client
that pins its own CA fails with its TLS error, nothing sent, and an event
that says why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from standin.clients import CALLS, check_routed, provider_key
from standin.helpers import assert_no_secrets, read_log, relay_processes, run
from standin.router import ASSISTANT_TEXT

NODE = shutil.which("node", path="/usr/bin:/usr/local/bin")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# node CLIENT.js URL HEADERS_JSON BODY_FILE [CA_FILE]: one POST with the https
# module, the whole answer read; prints {"status", "body", "issuer"}. With
# CA_FILE the client trusts only that CA (it pins).
CLIENT = r"""
const https = require('node:https');
const fs = require('node:fs');
const [url, headers, bodyFile, ca] = process.argv.slice(2);
const body = fs.readFileSync(bodyFile);
const opts = {method: 'POST', headers: {...JSON.parse(headers), 'Content-Length': body.length}};
if (ca) opts.ca = [fs.readFileSync(ca)];
const req = https.request(url, opts, res => {
  const issuer = res.socket.getPeerCertificate().issuer;
  const chunks = [];
  res.on('data', c => chunks.push(c));
  res.on('end', () => {
    console.log(JSON.stringify({status: res.statusCode,
                                body: Buffer.concat(chunks).toString(),
                                issuer: issuer && issuer.CN}));
  });
});
req.on('error', e => { console.error('error', e.code, e.message); process.exit(3); });
req.end(body);
"""


@pytest.fixture
def client(tmp_path) -> Path:
    script = tmp_path / "client.js"
    script.write_text(CLIENT)
    return script


def call_node(client, call, env, tmp_path, url=None, ca=None):
    key = provider_key(call)
    body = tmp_path / "body.json"
    body.write_bytes(call.body_bytes())
    headers = dict(call.headers(key))
    argv = [NODE, client, url or call.url(key), json.dumps(headers), body]
    if ca:
        argv.append(ca)
    done = run(argv, env=env, timeout=60)
    answer = json.loads(done.stdout) if done.returncode == 0 else None
    return done, answer, key


@pytest.mark.parametrize("call", ["openai", "openai-stream", "anthropic-stream",
                                  "gemini-query"])
def test_hard_coded_provider_url_is_intercepted_routed_and_logged(call, client, router,
                                                                   respan_env, tmp_path):
    call = CALLS[call]
    assert "NODE_EXTRA_CA_CERTS" not in respan_env
    done, answer, key = call_node(client, call, respan_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert answer["status"] == 200
    assert answer["issuer"].startswith("respan local interception CA")
    assert ASSISTANT_TEXT.split()[0] in answer["body"]
    [req] = router.requests()
    check_routed(req, call, respan_env, key)       # the Respan key, no provider key
    log = read_log(respan_env["RESPAN_LOG"])
    [rq] = [r for r in log if r["type"] == "request"]
    assert rq["layer"] == "relay" and rq["routed"] is True
    assert rq["provider"] == call.provider
    assert rq["url"].startswith(f"https://{call.host}/")
    [rs] = [r for r in log if r["type"] == "response"]
    assert rs["id"] == rq["id"] and rs["status"] == 200
    assert rs["output_text"] == ASSISTANT_TEXT
    assert not [e for e in log if e["type"] == "event"], log
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)
    # Made on first need, private; gone with the program: the relay.
    ca_dir = Path(respan_env["HOME"]) / ".local" / "state" / "respan" / "ca"
    assert (ca_dir / "ca.key").stat().st_mode & 0o777 == 0o600
    assert relay_processes(respan_env) == []


def test_other_https_hosts_are_left_alone(client, router, respan_env, pki, tmp_path):
    """The stand-in router, called by its own name (not a provider's): the
    program's own CA setting is kept beside the interception CA, and the
    chain it sees is the server's, not the local CA's."""
    respan_env["NODE_EXTRA_CA_CERTS"] = pki["ca"]
    call = CALLS["openai"]
    url = router.url_for("localhost") + "chat/completions"
    done, answer, key = call_node(client, call, respan_env, tmp_path, url=url)
    assert done.returncode == 0, done.stderr
    assert answer["issuer"] == "librespan test CA"
    [req] = router.requests()
    assert req.sni == "localhost"


def test_intercept_off_keeps_the_refusal(client, router, respan_env, tmp_path):
    respan_env["RESPAN_INTERCEPT"] = "off"
    call = CALLS["openai"]
    done, _, key = call_node(client, call, respan_env, tmp_path)
    assert done.returncode == 3
    assert router.requests() == []
    events = read_log(respan_env["RESPAN_LOG"], type="event")
    assert [e["event"] for e in events] == ["blocked"], events
    assert "OPENAI_API_KEY" in events[0]["detail"]


def test_a_client_that_pins_its_ca_fails_cleanly(client, router, respan_env, pki, tmp_path):
    """Its TLS error, nothing sent, and an event that says why."""
    call = CALLS["openai"]
    done, _, key = call_node(client, call, respan_env, tmp_path, ca=pki["ca"])
    assert done.returncode == 3
    assert b"certificate" in done.stderr or b"CERT" in done.stderr, done.stderr
    assert router.requests() == []
    events = read_log(respan_env["RESPAN_LOG"], type="event")
    assert [e["event"] for e in events] == ["relay_error"], events
    assert events[0]["host"] == "api.openai.com"
    assert "nothing was sent" in events[0]["detail"]
    assert read_log(respan_env["RESPAN_LOG"], type="request") == []
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)
