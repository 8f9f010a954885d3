#!/usr/bin/env python3
"""Shared pieces of the tests that run real clients under librespan.

    CALLS                    provider API calls as a legacy program makes them
                             (Call: host, request-target, credential, body, and
                             what the router must receive instead)
    http_request(...)        the raw HTTP/1.1 bytes of a Call (for ossl_client)
    parse_responses(data)    raw HTTP/1.1 responses -> [(status, headers, body)]
    check_routed(...)        asserts on one request as the router received it
    check_log(...)           asserts on the request/response records of the log
    check_answer(...)        asserts on what the client itself got back
    python_client(...)       argv running this file as a Python client

As a command this file is the Python test client, run under librespan by the
tests with /usr/bin/python3:

    clients.py LIB URL [-H 'Name: value']... [--data-file F] [--repeat N]
               [--connect ADDR:PORT] [--cafile CA] [--insecure]

LIB is http.client, urllib, requests, httpx or aiohttp. It POSTs the body
REPEAT times (on one keep-alive connection where the library has one) and
prints one JSON object per answer: {"status": N, "body_base64": ...}.
--connect sends the TCP connection to ADDR:PORT while TLS and HTTP still name
URL's host (capture tests: a stand-in serving a provider name); --cafile
trusts that CA instead of the system's; --insecure verifies nothing. Exit
status 0 when every answer was 200, 1 otherwise, 3 on a network or TLS error
(printed on stderr).
"""

from __future__ import annotations

import base64
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"          # Debian's, with requests/httpx/aiohttp
ASSISTANT_TEXT = "Hello from the stand-in router"
TEXT_PIECES = ("Hello", " from the", " stand-in router")
INPUT_TOKENS, OUTPUT_TOKENS = 11, 7
PY_LIBS = ("http.client", "urllib", "requests", "httpx", "aiohttp")

# --------------------------------------------------------------------------
# Provider calls


@dataclass(frozen=True)
class Call:
    """One provider API call, and what the router must receive instead.

    `target` and the credential value may hold "{key}", replaced by the
    provider key (sent) or the Respan key (expected at the router)."""

    id: str
    provider: str                  # provider id (docs/contract.md#routes)
    host: str
    target: str                    # request-target sent to the provider
    routed: str                    # request-target expected at the router
    cred: Optional[tuple]          # (header, value) sent, or None
    routed_cred: tuple             # (header, value) expected at the router
    body: dict
    model: str
    stream: bool = False
    extra: tuple = ()              # more headers, sent and expected unchanged
    key_prefix: str = "sk-"

    def url(self, key: str) -> str:
        return f"https://{self.host}{self.target.format(key=key)}"

    def headers(self, key: str) -> list:
        """The request headers a client sets (no Host, no Content-Length)."""
        out = [("Content-Type", "application/json"), ("User-Agent", "legacy-app/1.0")]
        if self.cred:
            out.append((self.cred[0], self.cred[1].format(key=key)))
        return out + list(self.extra)

    def body_bytes(self) -> bytes:
        return json.dumps(self.body).encode()


_OAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}
_ANT_BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64,
             "messages": [{"role": "user", "content": "Say hello"}]}
_GEM_BODY = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
_GEM_PATH = "/v1beta/models/gemini-2.0-flash:"
_VTX_PATH = ("/v1/projects/demo-project/locations/us-central1/publishers/google/"
             "models/gemini-2.0-flash:")
_ANT_VERSION = (("anthropic-version", "2023-06-01"),)


def _calls() -> dict:
    bearer = ("Authorization", "Bearer {key}")
    calls = [
        Call("openai", "openai", "api.openai.com", "/v1/chat/completions",
             "/api/chat/completions", bearer, bearer, _OAI_BODY, "gpt-4o-mini"),
        Call("openai-stream", "openai", "api.openai.com", "/v1/chat/completions",
             "/api/chat/completions", bearer, bearer,
             dict(_OAI_BODY, stream=True, stream_options={"include_usage": True}),
             "gpt-4o-mini", stream=True),
        # No credential at all: the router still gets the provider's usual style.
        Call("openai-nocred", "openai", "api.openai.com", "/v1/chat/completions",
             "/api/chat/completions", None, bearer, _OAI_BODY, "gpt-4o-mini"),
        Call("anthropic", "anthropic", "api.anthropic.com", "/v1/messages",
             "/api/anthropic/v1/messages", ("x-api-key", "{key}"), ("x-api-key", "{key}"),
             _ANT_BODY, "claude-sonnet-4-5", extra=_ANT_VERSION, key_prefix="sk-ant-api03-"),
        Call("anthropic-stream", "anthropic", "api.anthropic.com", "/v1/messages?beta=true",
             "/api/anthropic/v1/messages?beta=true", ("x-api-key", "{key}"),
             ("x-api-key", "{key}"), dict(_ANT_BODY, stream=True), "claude-sonnet-4-5",
             stream=True, extra=_ANT_VERSION, key_prefix="sk-ant-api03-"),
        Call("anthropic-bearer", "anthropic", "api.anthropic.com", "/v1/messages",
             "/api/anthropic/v1/messages", bearer, bearer, _ANT_BODY, "claude-sonnet-4-5",
             extra=_ANT_VERSION, key_prefix="sk-ant-oat01-"),
        Call("gemini-header", "gemini", "generativelanguage.googleapis.com",
             _GEM_PATH + "generateContent", "/api/google/gemini" + _GEM_PATH + "generateContent",
             ("x-goog-api-key", "{key}"), ("x-goog-api-key", "{key}"), _GEM_BODY,
             "gemini-2.0-flash", key_prefix="AIza"),
        Call("gemini-query", "gemini", "generativelanguage.googleapis.com",
             _GEM_PATH + "generateContent?key={key}",
             "/api/google/gemini" + _GEM_PATH + "generateContent?key={key}",
             None, ("x-goog-api-key", None), _GEM_BODY, "gemini-2.0-flash", key_prefix="AIza"),
        Call("gemini-stream", "gemini", "generativelanguage.googleapis.com",
             _GEM_PATH + "streamGenerateContent?alt=sse&key={key}",
             "/api/google/gemini" + _GEM_PATH + "streamGenerateContent?alt=sse&key={key}",
             None, ("x-goog-api-key", None), _GEM_BODY, "gemini-2.0-flash", stream=True,
             key_prefix="AIza"),
        Call("vertexai", "vertexai", "us-central1-aiplatform.googleapis.com",
             _VTX_PATH + "generateContent", "/api/google/vertexai" + _VTX_PATH + "generateContent",
             bearer, bearer, _GEM_BODY, "gemini-2.0-flash", key_prefix="ya29."),
        Call("vertexai-stream", "vertexai", "aiplatform.googleapis.com",
             _VTX_PATH + "streamGenerateContent?alt=sse",
             "/api/google/vertexai" + _VTX_PATH + "streamGenerateContent?alt=sse",
             bearer, bearer, _GEM_BODY, "gemini-2.0-flash", stream=True, key_prefix="ya29."),
    ]
    return {c.id: c for c in calls}


CALLS = _calls()


# What tests/e2e/clients/curl_client.c has hard-coded, per provider.
CURL_CLIENT_KEYS = {"openai": "sk-legacy-openai-key-0000111122223333",
                    "anthropic": "sk-ant-legacy-key-4444555566667777",
                    "gemini": "AIzaLegacyKey88889999"}
CURL_CLIENT_CALLS = ("openai", "anthropic", "gemini-query")


def provider_key(call: Call) -> str:
    """A fresh, random-looking provider credential in the provider's style."""
    from standin.helpers import make_secret
    return make_secret(call.key_prefix)


# --------------------------------------------------------------------------
# Raw HTTP/1.1, for clients that write bytes themselves


def http_request(call: Call, key: str, body: Optional[bytes] = None,
                 extra: tuple = (), close: bool = True) -> bytes:
    """The request a raw-TLS client writes for CALL (origin form, Content-Length)."""
    body = call.body_bytes() if body is None else body
    lines = [f"POST {call.target.format(key=key)} HTTP/1.1", f"Host: {call.host}"]
    lines += [f"{n}: {v}" for n, v in call.headers(key) + list(extra)]
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_responses(data: bytes) -> list:
    """Every HTTP/1.1 response in DATA (a whole connection's worth, read until
    the server closed): [(status, {lower-name: value}, body)], bodies
    de-chunked. Fails the test on anything malformed or cut short."""
    out = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\r\n\r\n", pos)
        head = data[pos:end].decode("latin-1").split("\r\n")
        pos = end + 4
        status = int(head[0].split(" ")[1])
        headers = {}
        for line in head[1:]:
            n, _, v = line.partition(":")
            headers[n.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                nl = data.index(b"\r\n", pos)
                size = int(data[pos:nl].split(b";")[0], 16)
                pos = nl + 2
                if size == 0:
                    pos = data.index(b"\r\n\r\n", pos - 2) + 4
                    break
                assert pos + size + 2 <= len(data), "chunked body cut short"
                body += data[pos:pos + size]
                pos += size + 2
            body = bytes(body)
        else:
            n = int(headers.get("content-length", len(data) - pos))
            assert pos + n <= len(data), "body cut short"
            body = data[pos:pos + n]
            pos += n
        out.append((status, headers, body))
    return out


# --------------------------------------------------------------------------
# Checks


def _no_key_in(req, *keys: str) -> None:
    """No KEY anywhere in what the router received (target, headers, body)."""
    blob = (req.path + "\n" + json.dumps(req.headers)).encode() + b"\n" + req.body
    for k in keys:
        if k:
            assert k.encode() not in blob, f"a provider key reached the router: {req.path}"


def check_routed(req, call: Call, env: dict, key: str, body: Optional[bytes] = None,
                 host: Optional[str] = None, route_provider: Optional[str] = None) -> None:
    """REQ (as the router received it) is CALL routed per docs/contract.md#routes."""
    rk = env["RESPAN_API_KEY"]
    base = urlsplit(env["RESPAN_BASE_URL"])
    assert req.method == "POST"
    assert req.version == "HTTP/1.1"
    assert req.alpn in (None, "http/1.1")
    assert req.path == call.routed.format(key=rk)
    assert req.header_all("host") == [host or base.netloc]
    name, value = call.routed_cred
    if value is None:       # the key rode in the query: no header may be added
        assert req.header(name) is None, f"{name} added to a request with key="
    else:
        assert req.header_all(name) == [value.format(key=rk)]
    # The headers the program set are kept (credentials aside), once each.
    got = [(n.lower(), v) for n, v in req.headers]
    for n, v in call.headers(key):
        if not call.cred or n != call.cred[0]:
            assert got.count((n.lower(), v)) == 1, (n, v, got)
    assert req.body == (call.body_bytes() if body is None else body)
    assert req.header_all("x-respan-route-provider") == ([route_provider] if route_provider
                                                         else [])
    _no_key_in(req, key)


def check_answer(call: Call, status: int, body: bytes) -> None:
    """What the client got back is the stand-in's answer for CALL."""
    assert status == 200, body[:300]
    text = body.decode("utf-8", "replace")
    if call.stream:
        for piece in TEXT_PIECES:
            assert piece in text
    else:
        assert ASSISTANT_TEXT in text


def log_pairs(log: list) -> list:
    """[(request record, response record)] joined by id, in request order."""
    responses = {r["id"]: r for r in log if r["type"] == "response"}
    return [(r, responses.get(r["id"])) for r in log if r["type"] == "request"]


CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")


def redacted(headers: list) -> list:
    """HEADERS as the log must show them: credential values [REDACTED]."""
    return [[n, "[REDACTED]" if n.lower() in CREDENTIAL_HEADERS else v] for n, v in headers]


def check_log(env: dict, call: Call, key: str, count: int = 1, routed: bool = True,
              layer: Optional[str] = None, body: Optional[bytes] = None,
              url: Optional[str] = None, sent: Optional[list] = None) -> list:
    """The log holds COUNT exchanges of CALL with docs/contract.md#traffic-log fields, no
    secrets, and no events; with SENT (the server's RecordedRequests, in
    order), each record's headers are those the server received, credentials
    redacted. Returns the (request, response) pairs."""
    from standin.helpers import assert_no_secrets, read_log
    log = read_log(env["RESPAN_LOG"])
    assert [r for r in log if r["type"] == "event"] == []
    pairs = log_pairs(log)
    assert len(pairs) == count, log
    assert len(log) == 2 * count
    body = call.body_bytes() if body is None else body
    ids = set()
    for req, resp in pairs:
        assert resp is not None, f"no response record for {req['id']}"
        ids.add(req["id"])
        check_request_record(req, call, body, routed, env, layer, url)
        check_response_record(resp, call)
    assert len(ids) == count, "record ids are not unique"
    if sent is not None:
        assert [rec["headers"] for rec, _ in pairs] == [redacted(r.headers) for r in sent]
    assert_no_secrets(env["RESPAN_LOG"], env.get("RESPAN_API_KEY", ""), key)
    return pairs


_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
REQUEST_FIELDS = {"type", "id", "ts", "pid", "ppid", "exe", "layer", "provider", "routed",
                  "method", "url", "routed_url", "headers", "body_bytes", "body_truncated"}
RESPONSE_FIELDS = {"type", "id", "ts", "pid", "status", "headers", "body_bytes",
                   "body_truncated", "sse", "ttfb_ms", "duration_ms", "usage", "output_text",
                   "error"}


def check_request_record(rec: dict, call: Call, body: bytes, routed: bool, env: dict,
                         layer: Optional[str] = None, url: Optional[str] = None) -> None:
    assert REQUEST_FIELDS <= rec.keys(), REQUEST_FIELDS - rec.keys()
    assert ("body" in rec) != ("body_base64" in rec)
    assert _TS.fullmatch(rec["ts"]), rec["ts"]
    assert isinstance(rec["pid"], int) and isinstance(rec["ppid"], int)
    assert rec["exe"].startswith("/")
    if layer:
        assert rec["layer"] == layer
    assert rec["provider"] == call.provider
    assert rec["routed"] is routed
    assert rec["method"] == "POST"
    want_url = url or call.url("[REDACTED]")
    assert rec["url"] == want_url
    if routed:
        base = urlsplit(env["RESPAN_BASE_URL"])
        assert rec["routed_url"] == (f"{base.scheme}://{base.netloc}"
                                     + call.routed.format(key="[REDACTED]"))
    else:
        assert rec["routed_url"] is None
    assert all(isinstance(h, list) and len(h) == 2 for h in rec["headers"])
    for name, value in rec["headers"]:
        if name.lower() in CREDENTIAL_HEADERS:
            assert value == "[REDACTED]", (name, value)
    assert rec["body_bytes"] == len(body)
    kept = int(env.get("RESPAN_LOG_BODY_MAX", 1 << 20))
    assert rec["body_truncated"] is (len(body) > kept)
    logged = (rec["body"].encode() if "body" in rec
              else base64.b64decode(rec["body_base64"]))
    assert logged == body[:kept]


def check_response_record(rec: dict, call: Call) -> None:
    assert RESPONSE_FIELDS <= rec.keys(), RESPONSE_FIELDS - rec.keys()
    assert _TS.fullmatch(rec["ts"]), rec["ts"]
    assert rec["status"] == 200
    assert rec["error"] is None
    assert rec["sse"] is call.stream
    assert rec["body_truncated"] is False
    assert rec["output_text"] == ASSISTANT_TEXT
    usage = rec["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (INPUT_TOKENS, OUTPUT_TOKENS)
    assert usage["model"] == call.model
    assert rec["ttfb_ms"] >= 0 and rec["duration_ms"] >= rec["ttfb_ms"]


# --------------------------------------------------------------------------
# A stand-in that answers as the providers themselves (capture tests)

_PROVIDER_PREFIX = (("api.openai.com", "/api", "/v1"),
                    ("api.anthropic.com", "/api/anthropic", ""),
                    ("generativelanguage.googleapis.com", "/api/google/gemini", ""),
                    ("aiplatform.googleapis.com", "/api/google/vertexai", ""))


def as_provider(req):
    """Router.override answering a request made to a provider's own host
    (Host header) as the stand-in answers the same call on the router."""
    from dataclasses import replace
    from standin.router import build_response
    host = (req.header("host") or "").rsplit(":", 1)[0]
    for name, prefix, strip in _PROVIDER_PREFIX:
        if host == name or host.endswith("-" + name):
            path = req.path[len(strip):] if req.path.startswith(strip + "/") else req.path
            return build_response(replace(req, path=prefix + path))
    return None


# --------------------------------------------------------------------------
# Running a call with one of the test clients


@dataclass
class Result:
    proc: object                   # subprocess.CompletedProcess
    answers: list                  # [(status, body)] the client got

    @property
    def stderr(self) -> str:
        return self.proc.stderr.decode(errors="replace")


def run_call(client: str, call: Call, env: dict, key: str, tmp_path, client_bin=None,
             body: Optional[bytes] = None, repeat: int = 1, extra: tuple = (),
             connect: Optional[str] = None, cafile: Optional[str] = None,
             check: bool = True) -> Result:
    """Make CALL REPEAT times (on one connection) with CLIENT:

        "ossl_client [FLAGS]"   raw request bytes (pipelined when REPEAT > 1)
        "curl [FLAGS]"          the curl command, URL hard-coded as a user would
        "curl_client [-u]"      libcurl with hard-coded URLs and keys: CALL must be
                                one of CURL_CLIENT_CALLS, KEY CURL_CLIENT_KEYS[...]
        "curl_gnutls_client"    the same program on libcurl-gnutls
        "wget [FLAGS]"          the wget command (GnuTLS), the URL as a user types it
        "py:LIB [--insecure]"   clients.py LIB (http.client, urllib, requests, ...)

    CONNECT/CAFILE reach a stand-in serving the provider name. With CHECK, a failing client fails the test with its stderr."""
    from standin.helpers import run
    body = call.body_bytes() if body is None else body
    headers = call.headers(key) + list(extra)
    tmp_path = Path(tmp_path)
    data = tmp_path / "request.body"
    data.write_bytes(body)
    name, *flags = client.split()
    if name == "ossl_client":
        reqfile = tmp_path / "request.http"
        reqfile.write_bytes(b"".join(http_request(call, key, body, extra, close=(i == repeat - 1))
                                     for i in range(repeat)))
        if connect:
            flags += ["-a", connect]
        if cafile:
            flags += ["-C", cafile]
        proc = run([client_bin("ossl_client"), *flags, call.host, reqfile], env=env)
        try:
            answers = [(s, b) for s, _, b in parse_responses(proc.stdout)]
        except (ValueError, AssertionError):
            if check:
                raise
            answers = []     # cut short: the test asked for it
    elif name == "curl":
        argv = ["curl", "-sS", *flags, "-w", "%{response_code}\n"]
        if connect:
            argv += ["--connect-to", f"{call.host}:443:{connect}"]
        if cafile:
            argv += ["--cacert", cafile]
        for n, v in headers:
            argv += ["-H", f"{n}: {v}"]
        outs = [tmp_path / f"curl.out{i}" for i in range(repeat)]
        argv += ["--data-binary", f"@{data}"]
        for out in outs:
            argv += ["-o", out, call.url(key)]
        proc = run(argv, env=env)
        codes = proc.stdout.decode().split()
        answers = [(int(c), o.read_bytes()) for c, o in zip(codes, outs)] \
            if proc.returncode == 0 else []
    elif name == "wget":
        assert repeat == 1, "wget makes one call here"
        out = tmp_path / "wget.out"
        argv = ["wget", "--no-config", "--no-hsts", "-q", "-O", out, *flags]
        if cafile:
            argv += ["--ca-certificate", cafile]
        for n, v in headers:
            argv += [f"--header={n}: {v}"]
        argv += [f"--post-file={data}", call.url(key)]
        proc = run(argv, env=env)
        answers = [(200, out.read_bytes())] if proc.returncode == 0 else []
    elif name in ("curl_client", "curl_gnutls_client"):
        assert CURL_CLIENT_KEYS[call.provider] == key, "curl_client's keys are its own"
        if connect:
            flags += ["-c", connect]
        if cafile:
            flags += ["-a", cafile]
        proc = run([client_bin(name), *flags, call.provider, body.decode()], env=env)
        answers = [(200, proc.stdout)] if proc.returncode == 0 else []
    elif name.startswith("py:"):
        proc = run(python_client(name[3:], call.url(key), headers, data, repeat,
                                 connect, cafile) + flags, env=env)
        answers = client_answers(proc.stdout) if proc.returncode in (0, 1) else []
    else:
        raise ValueError(f"unknown client {client!r}")
    result = Result(proc, answers)
    if check:
        assert proc.returncode == 0, f"{client} exited {proc.returncode}:\n{result.stderr}"
        assert len(answers) == repeat
        for status, got in answers:
            check_answer(call, status, got)
    return result


# --------------------------------------------------------------------------
# The Python client, run as a subprocess under librespan


def python_client(lib: str, url: str, headers: list, data_file, repeat: int = 1,
                  connect: Optional[str] = None, cafile: Optional[str] = None) -> list:
    """argv running this file as the Python test client."""
    argv = [PYTHON, str(Path(__file__)), lib, url, "--data-file", str(data_file),
            "--repeat", str(repeat)]
    for n, v in headers:
        argv += ["-H", f"{n}: {v}"]
    if connect:
        argv += ["--connect", connect]
    if cafile:
        argv += ["--cafile", cafile]
    return argv


def client_answers(stdout: bytes) -> list:
    """[(status, body)] printed by the Python test client."""
    out = []
    for line in stdout.decode().splitlines():
        obj = json.loads(line)
        out.append((obj["status"], base64.b64decode(obj["body_base64"])))
    return out


_INSECURE = False


def _ssl_context(cafile):
    import ssl
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    if _INSECURE:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _split_connect(connect):
    host, _, port = connect.rpartition(":")
    return host.strip("[]"), int(port)


def _http_client(url, headers, body, repeat, connect, cafile, use_urllib=False):
    import http.client
    import urllib.request
    u = urlsplit(url)
    target = u.path + (f"?{u.query}" if u.query else "")
    ctx = _ssl_context(cafile)
    if use_urllib:
        req = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
        out = []
        for _ in range(repeat):
            with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
                out.append((r.status, r.read()))
        return out

    class Conn(http.client.HTTPSConnection):
        def connect(self):
            if not connect:
                return super().connect()
            import socket
            sock = socket.create_connection(_split_connect(connect), self.timeout)
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)

    conn = Conn(u.hostname, u.port or 443, context=ctx, timeout=20)
    out = []
    for _ in range(repeat):
        conn.request("POST", target, body=body, headers=dict(headers))
        r = conn.getresponse()
        out.append((r.status, r.read()))
    conn.close()
    return out


def _requests(url, headers, body, repeat, connect, cafile):
    import requests
    with requests.Session() as s:
        return [(r.status_code, r.content) for r in
                (s.post(url, data=body, headers=dict(headers),
                        verify=False if _INSECURE else cafile or True,
                        timeout=20) for _ in range(repeat))]


def _httpx(url, headers, body, repeat, connect, cafile):
    import httpx
    with httpx.Client(verify=_ssl_context(cafile), timeout=20) as c:
        return [(r.status_code, r.content) for r in
                (c.post(url, content=body, headers=headers) for _ in range(repeat))]


def _aiohttp(url, headers, body, repeat, connect, cafile):
    import asyncio
    import socket
    import aiohttp
    from aiohttp.abc import AbstractResolver

    class Resolver(AbstractResolver):
        """Every name -> CONNECT (the capture tests' stand-in)."""
        async def resolve(self, host, port=0, family=socket.AF_INET):
            addr, p = _split_connect(connect)
            fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
            return [{"hostname": host, "host": addr, "port": p, "family": fam,
                     "proto": 0, "flags": socket.AI_NUMERICHOST}]

        async def close(self):
            pass

    async def go():
        connector = aiohttp.TCPConnector(ssl=_ssl_context(cafile),
                                         resolver=Resolver() if connect else None)
        out = []
        async with aiohttp.ClientSession(connector=connector) as s:
            for _ in range(repeat):
                async with s.post(url, data=body, headers=headers) as r:
                    out.append((r.status, await r.read()))
        return out

    return asyncio.run(go())


def _main(argv) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lib", choices=PY_LIBS)
    ap.add_argument("url")
    ap.add_argument("-H", dest="headers", action="append", default=[])
    ap.add_argument("--data-file", required=True)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--connect")
    ap.add_argument("--cafile")
    ap.add_argument("--insecure", action="store_true",
                    help="verify nothing, as some careless programs do")
    a = ap.parse_args(argv)
    global _INSECURE
    _INSECURE = a.insecure
    headers = [tuple(s.strip() for s in h.split(":", 1)) for h in a.headers]
    body = Path(a.data_file).read_bytes()
    fn = {"http.client": _http_client, "requests": _requests, "httpx": _httpx,
          "aiohttp": _aiohttp,
          "urllib": lambda *x: _http_client(*x, use_urllib=True)}[a.lib]
    try:
        answers = fn(a.url, headers, body, a.repeat, a.connect, a.cafile)
    except Exception as e:  # noqa: BLE001 - the test reads the message
        print(f"{a.lib}: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    for status, data in answers:
        print(json.dumps({"status": status,
                          "body_base64": base64.b64encode(data).decode()}))
    return 0 if all(s == 200 for s, _ in answers) else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
