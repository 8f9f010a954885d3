"""Tests of the stand-in router by itself, with real clients and no preload:
curl, http.client, requests, httpx and aiohttp call every provider path,
streaming and not, and the tests check both the answer each client got and
what the router recorded. If these fail, no end-to-end result means anything.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import http.client
import json
import os
import socket
import ssl
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pytest
import requests

from standin.helpers import (assert_no_secrets, clean_env, make_respan_env, make_secret,
                             read_log, router_process, run)
from standin.router import (ASSISTANT_TEXT, INPUT_TOKENS, OUTPUT_TOKENS, RecordedRequest,
                            Response, Router, load_records)

# --------------------------------------------------------------------------
# Clients: one function each, same signature, same result shape.


@dataclass
class Answer:
    status: int
    headers: dict        # lower-cased names -> last value
    body: bytes          # after the client's own transfer and content decoding


def _ctx(ca: str) -> ssl.SSLContext:
    """A client context that trusts only CA (not the system store)."""
    return ssl.create_default_context(cafile=ca)


def call_curl(url, method, body, headers, ca, tmp_path, compressed=False) -> Answer:
    out, hdr, data = tmp_path / "curl.body", tmp_path / "curl.head", tmp_path / "curl.data"
    argv = ["curl", "-sS", "--cacert", ca, "-X", method, "-D", hdr, "-o", out]
    for name, value in headers:
        argv += ["-H", f"{name}: {value}"]
    if body is not None:
        data.write_bytes(body)
        argv += ["--data-binary", f"@{data}"]
    if compressed:
        argv.append("--compressed")
    proc = run(argv + [url], env=clean_env(tmp_path), timeout=20)
    if proc.returncode != 0:
        raise ConnectionError(f"curl exit {proc.returncode}: {proc.stderr.decode()}")
    # The dump holds every response head (a 100 Continue first, maybe): keep the last.
    block = hdr.read_bytes().decode("latin-1").strip().split("\r\n\r\n")[-1]
    lines = block.split("\r\n")
    heads = {}
    for line in lines[1:]:
        n, _, v = line.partition(":")
        heads[n.strip().lower()] = v.strip()
    return Answer(int(lines[0].split()[1]), heads, out.read_bytes())


def call_http_client(url, method, body, headers, ca, tmp_path, compressed=False) -> Answer:
    u = httpx.URL(url)
    conn = http.client.HTTPSConnection(u.host, u.port, context=_ctx(ca), timeout=10)
    try:
        target = u.raw_path.decode()
        conn.request(method, target, body=body, headers=dict(headers))
        resp = conn.getresponse()
        data = resp.read()
        heads = {k.lower(): v for k, v in resp.getheaders()}
        if heads.get("content-encoding") == "gzip":
            data = gzip.decompress(data)   # http.client does not decode
        return Answer(resp.status, heads, data)
    finally:
        conn.close()


def call_requests(url, method, body, headers, ca, tmp_path, compressed=False) -> Answer:
    with requests.Session() as s:
        s.trust_env = False    # no proxies or CA bundles from the environment
        r = s.request(method, url, data=body, headers=dict(headers), verify=ca, timeout=10)
        return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


def call_httpx(url, method, body, headers, ca, tmp_path, compressed=False) -> Answer:
    with httpx.Client(verify=_ctx(ca), trust_env=False, timeout=10) as c:
        r = c.request(method, url, content=body, headers=headers)
        return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


def call_aiohttp(url, method, body, headers, ca, tmp_path, compressed=False) -> Answer:
    async def go():
        conn = aiohttp.TCPConnector(ssl=_ctx(ca))
        async with aiohttp.ClientSession(connector=conn, trust_env=False) as s:
            async with s.request(method, url, data=body, headers=headers) as r:
                data = await r.read()
                return Answer(r.status, {k.lower(): v for k, v in r.headers.items()}, data)
    return asyncio.run(go())


CLIENTS = {
    "curl": call_curl,
    "http.client": call_http_client,
    "requests": call_requests,
    "httpx": call_httpx,
    "aiohttp": call_aiohttp,
}

# Each client's error when the certificate does not verify.
VERIFY_ERRORS = (ConnectionError, ssl.SSLError, requests.exceptions.SSLError,
                 httpx.ConnectError, aiohttp.ClientConnectorCertificateError,
                 aiohttp.ClientSSLError)


# --------------------------------------------------------------------------
# Reading answers, independently of the router's code


def parse_sse(body: bytes) -> list:
    """[(event or None, data)] from an SSE body; LF or CRLF line ends."""
    events, event, data = [], None, []
    for line in body.decode().replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                events.append((event, "\n".join(data)))
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    return events


def read_answer(kind: str, ans: Answer):
    """(text, input_tokens, output_tokens, model) from any answer kind."""
    ctype = ans.headers.get("content-type", "")
    if kind == "gemini-array":
        chunks = json.loads(ans.body)
        assert isinstance(chunks, list) and len(chunks) >= 2
        text = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
        u = chunks[-1]["usageMetadata"]
        return text, u["promptTokenCount"], u["candidatesTokenCount"], chunks[-1]["modelVersion"]
    if "text/event-stream" in ctype:
        events = parse_sse(ans.body)
        assert len(events) >= 3, events
        if kind == "chat":
            assert events[-1][1] == "[DONE]"
            chunks = [json.loads(d) for _, d in events[:-1]]
            text = "".join(c["choices"][0]["delta"].get("content") or ""
                           for c in chunks if c["choices"])
            u = [c["usage"] for c in chunks if c.get("usage")][-1]
            return text, u["prompt_tokens"], u["completion_tokens"], chunks[0]["model"]
        if kind == "responses":
            objs = [(e, json.loads(d)) for e, d in events]
            assert all(e == o["type"] for e, o in objs)
            text = "".join(o["delta"] for e, o in objs if e == "response.output_text.delta")
            done = [o for e, o in objs if e == "response.completed"][-1]["response"]
            return (text, done["usage"]["input_tokens"], done["usage"]["output_tokens"],
                    done["model"])
        if kind == "anthropic":
            objs = [(e, json.loads(d)) for e, d in events]
            assert [e for e, _ in objs][0] == "message_start"
            assert [e for e, _ in objs][-1] == "message_stop"
            text = "".join(o["delta"]["text"] for e, o in objs
                           if e == "content_block_delta" and o["delta"]["type"] == "text_delta")
            start = objs[0][1]["message"]
            out = [o["usage"]["output_tokens"] for e, o in objs if e == "message_delta"][-1]
            return text, start["usage"]["input_tokens"], out, start["model"]
        if kind == "gemini":
            assert b"\r\n\r\n" in ans.body   # Google's SSE uses CRLF
            chunks = [json.loads(d) for _, d in events]
            text = "".join(p["text"] for c in chunks
                           for p in c["candidates"][0]["content"]["parts"])
            u = chunks[-1]["usageMetadata"]
            return (text, u["promptTokenCount"], u["candidatesTokenCount"],
                    chunks[-1]["modelVersion"])
        raise AssertionError(f"no SSE reader for {kind}")
    assert ctype.startswith("application/json"), ctype
    obj = json.loads(ans.body)
    if kind == "chat":
        assert obj["object"] == "chat.completion"
        return (obj["choices"][0]["message"]["content"], obj["usage"]["prompt_tokens"],
                obj["usage"]["completion_tokens"], obj["model"])
    if kind == "responses":
        assert obj["object"] == "response" and obj["status"] == "completed"
        return (obj["output"][0]["content"][0]["text"], obj["usage"]["input_tokens"],
                obj["usage"]["output_tokens"], obj["model"])
    if kind == "embeddings":
        assert obj["object"] == "list" and len(obj["data"]) == 2
        return None, obj["usage"]["prompt_tokens"], None, obj["model"]
    if kind == "anthropic":
        assert obj["type"] == "message"
        return (obj["content"][0]["text"], obj["usage"]["input_tokens"],
                obj["usage"]["output_tokens"], obj["model"])
    if kind == "gemini":
        u = obj["usageMetadata"]
        return (obj["candidates"][0]["content"]["parts"][0]["text"], u["promptTokenCount"],
                u["candidatesTokenCount"], obj["modelVersion"])
    raise AssertionError(kind)


# --------------------------------------------------------------------------
# The provider paths, streaming and not

VERTEX = "google/vertexai/v1/projects/p-1/locations/us-central1/publishers/google/models/"
MSGS = [{"role": "user", "content": "hi"}]
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}

# (case id, path under /api/, request JSON, answer kind, expected model)
CASES = [
    ("chat", "chat/completions", {"model": "gpt-4o-mini", "messages": MSGS}, "chat",
     "gpt-4o-mini"),
    ("chat-stream", "chat/completions",
     {"model": "gpt-4.1", "messages": MSGS, "stream": True,
      "stream_options": {"include_usage": True}}, "chat", "gpt-4.1"),
    ("responses", "responses", {"model": "gpt-4.1-mini", "input": "hi"}, "responses",
     "gpt-4.1-mini"),
    ("responses-stream", "responses", {"model": "o4-mini", "input": "hi", "stream": True},
     "responses", "o4-mini"),
    ("embeddings", "embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]},
     "embeddings", "text-embedding-3-small"),
    ("anthropic", "anthropic/v1/messages?beta=true",
     {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": MSGS}, "anthropic",
     "claude-sonnet-4-5"),
    ("anthropic-stream", "anthropic/v1/messages",
     {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": MSGS, "stream": True},
     "anthropic", "claude-haiku-4-5"),
    ("gemini", "google/gemini/v1beta/models/gemini-2.0-flash:generateContent", GEMINI_BODY,
     "gemini", "gemini-2.0-flash"),
    ("gemini-stream-sse",
     "google/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", GEMINI_BODY,
     "gemini", "gemini-2.5-pro"),
    ("gemini-stream-array", "google/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent",
     GEMINI_BODY, "gemini-array", "gemini-2.5-pro"),
    ("vertex", VERTEX + "gemini-2.0-flash:generateContent", GEMINI_BODY, "gemini",
     "gemini-2.0-flash"),
    ("vertex-stream", VERTEX + "gemini-2.0-flash:streamGenerateContent?alt=sse", GEMINI_BODY,
     "gemini", "gemini-2.0-flash"),
]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("case_id,path,payload,kind,model", CASES, ids=[c[0] for c in CASES])
def test_provider_paths(router, pki, tmp_path, client, case_id, path, payload, kind, model):
    body = json.dumps(payload).encode()
    marker = f"{client}/{case_id}"
    headers = [("Content-Type", "application/json"), ("X-Test-Case", marker),
               ("X-Order-1", "a"), ("X-Order-2", "b"), ("X-Order-3", "c")]
    ans = CLIENTS[client](router.url_for("localhost") + path, "POST", body, headers,
                          pki["ca"], tmp_path)

    assert ans.status == 200, ans.body[:500]
    text, tokens_in, tokens_out, got_model = read_answer(kind, ans)
    assert got_model == model
    assert tokens_in == INPUT_TOKENS
    if kind != "embeddings":
        assert text == ASSISTANT_TEXT
        assert tokens_out == OUTPUT_TOKENS
    if payload.get("stream") or "stream" in case_id:
        assert "content-length" not in ans.headers   # streamed chunked

    [rec] = router.requests()
    assert rec.method == "POST"
    assert rec.path == "/api/" + path
    assert rec.version == "HTTP/1.1"
    assert rec.body == body and rec.body_sha256 == hashlib.sha256(body).hexdigest()
    assert rec.header("x-test-case") == marker
    assert rec.header("host") == f"localhost:{router.port}"
    order = [n.lower() for n, _ in rec.headers if n.lower().startswith("x-order-")]
    assert order == ["x-order-1", "x-order-2", "x-order-3"]
    assert rec.sni == "localhost"
    assert rec.alpn in (None, "http/1.1")
    assert rec.status == 200


# --------------------------------------------------------------------------
# Bodies: large, binary, chunked, Expect: 100-continue


@pytest.mark.parametrize("client", CLIENTS)
def test_large_body_recorded_exactly(router, pki, tmp_path, client):
    filler = os.urandom(900 * 1024).hex()      # 1.8 MB of text in one JSON string
    body = json.dumps({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": filler}]}).encode()
    assert len(body) > 1024 * 1024
    ans = CLIENTS[client](router.url + "chat/completions", "POST", body,
                          [("Content-Type", "application/json")], pki["ca"], tmp_path)
    assert ans.status == 200
    [rec] = router.requests()
    assert len(rec.body) == len(body)
    assert rec.body == body
    if client == "curl":
        # curl asks before sending more than 1 MiB; the router must say go on.
        assert rec.header("expect", "").lower() == "100-continue"
        assert rec.expect_continue


def test_binary_body_recorded_exactly(router, pki, tmp_path):
    body = bytes(range(256)) * 64
    ans = call_requests(router.url + "embeddings", "POST", body,
                        [("Content-Type", "application/octet-stream")], pki["ca"], tmp_path)
    assert ans.status == 400      # not JSON: an OpenAI-style error
    assert "error" in json.loads(ans.body)
    [rec] = router.requests()
    assert rec.body == body and rec.status == 400


def test_chunked_body_http_client(router, pki):
    conn = http.client.HTTPSConnection("localhost", router.port, context=_ctx(pki["ca"]))
    pieces = [b'{"model":"gpt-4o-mini",', b'"messages":[{"role":"user",', b'"content":"hi"}]}']
    conn.request("POST", "/api/chat/completions", body=iter(pieces),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read())["choices"][0]["message"]["content"] == ASSISTANT_TEXT
    conn.close()
    [rec] = router.requests()
    assert rec.chunked and rec.header("transfer-encoding") == "chunked"
    assert rec.body == b"".join(pieces)


def test_chunked_body_curl(router, pki, tmp_path):
    body = json.dumps({"model": "m", "input": "x" * 300000}).encode()
    ans = call_curl(router.url + "responses", "POST", body,
                    [("Transfer-Encoding", "chunked"), ("Content-Type", "application/json")],
                    pki["ca"], tmp_path)
    assert ans.status == 200
    [rec] = router.requests()
    assert rec.chunked and rec.body == body


# --------------------------------------------------------------------------
# Raw protocol behaviour, over a plain TLS socket


class Raw:
    """A TLS connection to the router for writing exact bytes."""

    def __init__(self, router, ca, alpn=("http/1.1",), host="localhost"):
        ctx = _ctx(ca)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", router.port), 5),
                                    server_hostname=host)
        self.sock.settimeout(5)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_response(self) -> tuple:
        """(head text, body) of one response (Content-Length or chunked)."""
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lower = head.lower()
        if "transfer-encoding: chunked" in lower:
            body = b""
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self.read_until(b"\r\n")
                    return head, body
                while len(self.buf) < size + 2:
                    self.buf += self.sock.recv(65536)
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
        n = int(lower.split("content-length:")[1].split("\r\n")[0])
        while len(self.buf) < n:
            self.buf += self.sock.recv(65536)
        body, self.buf = self.buf[:n], self.buf[n:]
        return head, body

    def read_to_eof(self) -> bytes:
        while True:
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not data:
                break
            self.buf += data
        out, self.buf = self.buf, b""
        return out

    def close(self):
        self.sock.close()


def test_expect_100_continue(router, pki):
    raw = Raw(router, pki["ca"])
    body = b'{"model":"claude-x","max_tokens":5,"messages":[]}'
    raw.send(b"POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: localhost\r\n"
             b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
             b"Content-Length: %d\r\n\r\n" % len(body))
    assert raw.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    raw.send(body)
    head, data = raw.read_response()
    assert head.startswith("HTTP/1.1 200 ")
    assert json.loads(data)["model"] == "claude-x"
    raw.close()
    [rec] = router.requests()
    assert rec.expect_continue and rec.body == body


def test_chunk_extensions_and_trailers(router, pki):
    raw = Raw(router, pki["ca"])
    raw.send(b"POST /api/embeddings HTTP/1.1\r\nHost: localhost\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n"
             b"5;ext=1\r\n{\"inp\r\n"
             b"A\r\nut\":\"abc\"}\r\n"
             b"0\r\nX-Trailer: yes\r\n\r\n")
    head, data = raw.read_response()
    assert head.startswith("HTTP/1.1 200 ")
    raw.close()
    [rec] = router.requests()
    assert rec.body == b'{"input":"abc"}'
    assert rec.trailers == [["X-Trailer", "yes"]]


def test_pipelined_requests_answered_in_order(router, pki):
    raw = Raw(router, pki["ca"])
    raw.send(b"GET /__health HTTP/1.1\r\nHost: a\r\n\r\n"
             b"POST /api/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
             b"GET /api/nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
    statuses = [raw.read_response()[0].split()[1] for _ in range(3)]
    assert statuses == ["200", "200", "404"]
    raw.close()
    recs = router.requests()
    assert [r.seq for r in recs] == [1, 2, 3] and len({r.conn for r in recs}) == 1


def test_header_details_kept(router, pki):
    """Header names keep their case and order, duplicates and obs-folds too."""
    raw = Raw(router, pki["ca"])
    raw.send(b"POST /api/chat/completions?x=1&y=%2F HTTP/1.1\r\nhOsT: localhost\r\n"
             b"X-Dup: one\r\nx-dup: two\r\nX-Folded: first\r\n  second\r\n"
             b"Content-Length: 2\r\n\r\n{}")
    head, _ = raw.read_response()
    assert head.startswith("HTTP/1.1 200 ")
    raw.close()
    [rec] = router.requests()
    assert rec.path == "/api/chat/completions?x=1&y=%2F"
    assert rec.headers[:4] == [["hOsT", "localhost"], ["X-Dup", "one"], ["x-dup", "two"],
                               ["X-Folded", "first second"]]
    assert rec.header_all("x-dup") == ["one", "two"]


def test_http10_closes_and_streams_without_chunking(router, pki):
    raw = Raw(router, pki["ca"])
    raw.send(b"POST /api/chat/completions HTTP/1.0\r\nContent-Length: 15\r\n\r\n"
             b'{"stream":true}')
    data = raw.read_to_eof()
    raw.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert body.endswith(b"data: [DONE]\n\n")


def test_bad_request_line_gets_400(router, pki):
    raw = Raw(router, pki["ca"])
    raw.send(b"THIS IS NOT HTTP\r\n\r\n")
    data = raw.read_to_eof()
    raw.close()
    assert data.startswith(b"HTTP/1.1 400 ")
    assert [e["kind"] for e in router.errors()] == ["bad_request"]
    assert router.requests() == []


def test_http2_preface_is_refused(router, pki):
    raw = Raw(router, pki["ca"], alpn=("h2",))
    assert raw.sock.selected_alpn_protocol() is None     # h2 is never agreed
    raw.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    assert raw.read_to_eof() == b""
    raw.close()
    assert [e["kind"] for e in router.errors()] == ["h2_preface"]
    assert router.requests() == []


def test_alpn_prefers_http11(router, pki):
    raw = Raw(router, pki["ca"], alpn=("h2", "http/1.1"))
    assert raw.sock.selected_alpn_protocol() == "http/1.1"
    raw.close()


# --------------------------------------------------------------------------
# Connections


@pytest.mark.parametrize("client", ["http.client", "requests", "httpx", "aiohttp"])
def test_keep_alive_reuses_one_connection(router, pki, client):
    """Three requests, streamed and not, on one connection."""
    calls = [("chat/completions", {"model": "a", "stream": True}),
             ("anthropic/v1/messages", {"model": "b"}),
             ("google/gemini/v1beta/models/c:streamGenerateContent?alt=sse", {})]
    texts = []
    ctx = _ctx(pki["ca"])
    if client == "http.client":
        conn = http.client.HTTPSConnection("localhost", router.port, context=ctx)
        for path, payload in calls:
            conn.request("POST", "/api/" + path, body=json.dumps(payload))
            resp = conn.getresponse()
            texts.append(resp.read())
        conn.close()
    elif client == "requests":
        with requests.Session() as s:
            s.trust_env = False
            texts = [s.post(router.url_for("localhost") + p, json=b, verify=pki["ca"]).content
                     for p, b in calls]
    elif client == "httpx":
        with httpx.Client(verify=ctx, trust_env=False) as c:
            texts = [c.post(router.url_for("localhost") + p, json=b).content for p, b in calls]
    else:
        async def go():
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
                out = []
                for p, b in calls:
                    async with s.post(router.url_for("localhost") + p, json=b) as r:
                        out.append(await r.read())
                return out
        texts = asyncio.run(go())
    assert len(texts) == 3 and all(b"Hello" in t for t in texts)
    recs = router.requests()
    assert [r.seq for r in recs] == [1, 2, 3]
    assert len({r.conn for r in recs}) == 1


def test_connection_close_is_honoured(router, pki):
    raw = Raw(router, pki["ca"])
    raw.send(b"GET /__health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    data = raw.read_to_eof()
    raw.close()
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\nok")
    assert b"Connection: close" in data


def test_many_clients_at_once(router, pki):
    def worker(n):
        with requests.Session() as s:
            s.trust_env = False
            for i in range(3):
                r = s.post(router.url + "chat/completions", verify=pki["ca"],
                           json={"model": f"m{n}-{i}", "stream": i == 1})
                assert r.status_code == 200
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = router.requests()
    assert sorted(r.index for r in recs) == list(range(1, 25))
    assert len({r.conn for r in recs}) == 8


def test_ipv6(router6, pki, tmp_path):
    ans = call_curl(router6.url + "chat/completions", "POST", b'{"model":"v6"}',
                    [("Content-Type", "application/json")], pki["ca"], tmp_path)
    assert ans.status == 200 and json.loads(ans.body)["model"] == "v6"
    [rec] = router6.requests()
    assert rec.client.startswith("::1:")
    assert rec.header("host") == f"[::1]:{router6.port}"
    assert router6.url == f"https://[::1]:{router6.port}/api/"


# --------------------------------------------------------------------------
# Certificates: the stand-in's PKI is what the tests believe it is


@pytest.mark.parametrize("client", CLIENTS)
def test_wrong_ca_fails_verification(router, pki, tmp_path, client):
    with pytest.raises(VERIFY_ERRORS):
        CLIENTS[client](router.url_for("localhost") + "chat/completions", "POST", b"{}",
                        [], pki["wrong_ca"], tmp_path)
    assert router.requests() == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "router.test"])
def test_certificate_names(router, pki, host):
    """The router certificate is valid for every name tests use."""
    raw = Raw(router, pki["ca"], host=host)
    raw.close()


@pytest.mark.parametrize("which", ["wrong", "badname"])
def test_wrong_router_certificates_are_refused(pki, tmp_path, which):
    with Router(pki[f"{which}_cert"], pki[f"{which}_key"]) as bad:
        conn = http.client.HTTPSConnection("localhost", bad.port, context=_ctx(pki["ca"]),
                                           timeout=5)
        with pytest.raises(ssl.SSLCertVerificationError) as e:
            conn.request("GET", "/__health")
        conn.close()
    expected = "Hostname mismatch" if which == "badname" else "unable to get local issuer"
    assert expected in str(e.value)


# --------------------------------------------------------------------------
# Switches: gzip, forced errors, cut streams, override


def test_gzip_json_when_asked(router, pki, tmp_path):
    ans = call_requests(router.url + "chat/completions", "POST", b'{"model":"z"}',
                        [("X-Standin-Gzip", "1")], pki["ca"], tmp_path)
    assert ans.headers["content-encoding"] == "gzip"
    assert json.loads(ans.body)["model"] == "z"     # requests decoded it
    # Not asked: no coding even though requests accepts gzip.
    ans = call_requests(router.url + "chat/completions", "POST", b"{}", [], pki["ca"], tmp_path)
    assert "content-encoding" not in ans.headers


def test_gzip_needs_accept_encoding(router, pki, tmp_path):
    ans = call_http_client(router.url + "chat/completions?standin_gzip=1", "POST", b"{}",
                           [], pki["ca"], tmp_path)
    assert "content-encoding" not in ans.headers     # http.client sends no Accept-Encoding
    ans = call_http_client(router.url + "chat/completions?standin_gzip=1", "POST", b"{}",
                           [("Accept-Encoding", "gzip")], pki["ca"], tmp_path)
    assert ans.headers["content-encoding"] == "gzip"


def test_gzip_stream_decodes_event_by_event(router, pki):
    """Each chunk of a gzip stream is flushed, so it decodes on arrival."""
    raw = Raw(router, pki["ca"])
    raw.send(b"POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: a\r\n"
             b"Accept-Encoding: gzip\r\nX-Standin-Gzip: 1\r\nContent-Length: 15\r\n\r\n"
             b'{"stream":true}')
    head = raw.read_until(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in head
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    decoded = []
    while True:
        size = int(raw.read_until(b"\r\n"), 16)
        chunk = raw.read_until(b"\r\n")[:-2] if size else raw.read_until(b"\r\n")
        if not size:
            break
        assert len(chunk) == size
        decoded.append(d.decompress(chunk))
    raw.close()
    assert d.eof and d.unused_data == b""
    # Every event but the gzip trailer decodes whole from its own chunk.
    assert decoded[0].startswith(b"event: message_start\n") and decoded[0].endswith(b"\n\n")
    events = parse_sse(b"".join(decoded))
    assert events[-1][0] == "message_stop"
    assert sum(1 for e, _ in events if e == "content_block_delta") == 3


@pytest.mark.parametrize("status,path,check", [
    (429, "chat/completions", lambda o: o["error"]["type"] == "rate_limit_exceeded"),
    (529, "anthropic/v1/messages", lambda o: o["error"]["type"] == "overloaded_error"),
    (503, "google/gemini/v1beta/models/g:generateContent",
     lambda o: o["error"]["status"] == "UNAVAILABLE"),
])
def test_forced_errors_in_provider_format(router, pki, tmp_path, status, path, check):
    ans = call_httpx(router.url + path, "POST", b"{}", [("X-Standin-Status", str(status))],
                     pki["ca"], tmp_path)
    assert ans.status == status and check(json.loads(ans.body))
    assert router.requests()[0].status == status


def test_not_found_and_method_and_health(router, pki, tmp_path):
    base = router.url
    ans = call_httpx(base + "v1/chat/completions", "POST", b"{}", [], pki["ca"], tmp_path)
    assert ans.status == 404 and "error" in json.loads(ans.body)
    ans = call_httpx(base + "anthropic/v2/nothing", "POST", b"{}", [], pki["ca"], tmp_path)
    assert ans.status == 404 and json.loads(ans.body)["type"] == "error"
    ans = call_httpx(base + "google/vertexai//v1/x/models/m:generateContent", "POST", b"{}",
                     [], pki["ca"], tmp_path)
    assert ans.status == 404                         # a doubled slash is a bug upstream
    ans = call_httpx(base + "chat/completions", "GET", None, [], pki["ca"], tmp_path)
    assert ans.status == 405
    ans = call_httpx(base + "models", "GET", None, [], pki["ca"], tmp_path)
    assert ans.status == 200 and json.loads(ans.body)["object"] == "list"
    ans = call_httpx(base.replace("/api/", "/__health"), "GET", None, [], pki["ca"], tmp_path)
    assert (ans.status, ans.body) == (200, b"ok")


def test_cut_stream_is_an_error_for_the_client(router, pki, tmp_path):
    with pytest.raises(ConnectionError):
        call_curl(router.url + "chat/completions", "POST", b'{"stream":true}',
                  [("X-Standin-Cut", "2")], pki["ca"], tmp_path)
    with pytest.raises(http.client.IncompleteRead):
        call_http_client(router.url + "responses", "POST", b"{}",
                         [("X-Standin-Cut", "40")], pki["ca"], tmp_path)
    assert len(router.requests()) == 2


def test_override_hook(router, pki, tmp_path):
    router.override = lambda req: (Response(status=418, body=b"teapot", route="test")
                                   if req.header("x-teapot") else None)
    ans = call_requests(router.url + "embeddings", "POST", b"{}", [("X-Teapot", "1")],
                        pki["ca"], tmp_path)
    assert (ans.status, ans.body) == (418, b"teapot")
    ans = call_requests(router.url + "embeddings", "POST", b"{}", [], pki["ca"], tmp_path)
    assert ans.status == 200


def test_records_are_cleared_per_test(router):
    assert router.requests() == [] and router.errors() == [] and router.override is None
    assert Path(router.record_path).read_bytes() == b""


# --------------------------------------------------------------------------
# The record file and the command line


def test_record_file_matches_requests(router, pki, tmp_path):
    body = bytes(range(256))
    call_requests(router.url + "chat/completions", "POST", body, [], pki["ca"], tmp_path)
    call_requests(router.url + "responses", "POST", b'{"stream":true}', [], pki["ca"], tmp_path)
    lines = Path(router.record_path).read_bytes().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["body_len"] == 256
    assert first["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert first["method"] == "POST" and first["path"] == "/api/chat/completions"
    from_file = load_records(router.record_path)
    assert [r.body for r in from_file] == [r.body for r in router.requests()]
    assert isinstance(from_file[0], RecordedRequest)


def test_command_line_router(pki, tmp_path):
    with router_process(pki, tmp_path) as (proc, port, record):
        ans = call_curl(f"https://localhost:{port}/api/google/gemini/v1beta/models/"
                        "gemini-2.0-flash:generateContent?key=abc", "POST", b'{"contents":[]}',
                        [("x-goog-api-key", "k")], pki["ca"], tmp_path)
        assert ans.status == 200
        proc.send_signal(15)
        assert proc.wait(10) == 0
        assert proc.stdout.read().decode().strip() == str(port)
    [rec] = load_records(record)
    assert rec.path.endswith(":generateContent?key=abc")
    assert rec.header("x-goog-api-key") == "k"
    assert rec.body == b'{"contents":[]}'


# --------------------------------------------------------------------------
# The helpers other tests rely on


def test_make_respan_env_is_clean(router, pki, tmp_path):
    env = make_respan_env(tmp_path, router, pki, preload="/x/librespan.so")
    assert set(env) == {"PATH", "HOME", "LANG", "RESPAN_API_KEY", "RESPAN_BASE_URL",
                        "RESPAN_CA_FILE", "RESPAN_LOG", "LD_PRELOAD"}
    assert env["RESPAN_BASE_URL"] == f"https://localhost:{router.port}/api/"
    assert env["RESPAN_API_KEY"].startswith("rk-tk-") and len(env["RESPAN_API_KEY"]) == 38
    assert env["RESPAN_LOG"] == str(tmp_path / "traffic.jsonl")
    assert Path(env["HOME"]).is_dir()
    env6 = make_respan_env(tmp_path, router, pki, host="::1", RESPAN_MODE="capture")
    assert env6["RESPAN_BASE_URL"].startswith("https://[::1]:")
    assert "LD_PRELOAD" not in env6 and env6["RESPAN_MODE"] == "capture"
    # A client run with it sees nothing else (in particular no CA bundle variables).
    out = run(["env"], env=env, check=False)
    names = {line.split("=", 1)[0] for line in out.stdout.decode().splitlines()}
    assert not names & {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
                        "NODE_EXTRA_CA_CERTS"}


def test_read_log(tmp_path):
    log = tmp_path / "t.jsonl"
    assert read_log(log) == []
    log.write_text('{"type":"request","id":"1-1"}\n{"type":"response","id":"1-1"}\n')
    assert [r["type"] for r in read_log(log)] == ["request", "response"]
    assert read_log(log, type="response") == [{"type": "response", "id": "1-1"}]
    log.write_text('{"type":"request"}\n{"type":"resp')
    with pytest.raises(AssertionError):
        read_log(log)


def test_assert_no_secrets(tmp_path):
    key = make_secret()
    log = tmp_path / "t.jsonl"
    log.write_text(json.dumps({"headers": [["Authorization", "Bearer [REDACTED]"]]}) + "\n")
    assert_no_secrets(log, key, "sk-provider-0123456789")
    # Whole, in pieces, JSON-escaped, or inside a base64 body: all caught.
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)
    for leak in (key, key[5:17], '{"h": "%s"}' % escaped,
                 json.dumps({"body_base64": base64.b64encode(b"x=" + key.encode()).decode()})):
        log.write_text(leak + "\n")
        with pytest.raises(AssertionError):
            assert_no_secrets(log, key)


# --------------------------------------------------------------------------
# Gemini JSON output (the Gemini CLI's model-routing classifier)

# The two classifier schemas of @google/gemini-cli 0.61 (numerical and
# flash/pro), as it sends them in generationConfig.responseJsonSchema.
GEMINI_CLI_NUMERICAL_SCHEMA = {
    "type": "OBJECT",
    "properties": {"complexity_reasoning": {"type": "STRING"},
                   "complexity_score": {"type": "INTEGER"}},
    "required": ["complexity_reasoning", "complexity_score"]}
GEMINI_CLI_CHOICE_SCHEMA = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"},
                   "model_choice": {"type": "string", "enum": ["flash", "pro"]}},
    "required": ["reasoning", "model_choice"]}


def _json_mode_body(schema) -> bytes:
    return json.dumps({"contents": [{"role": "user", "parts": [{"text": "say hi"}]}],
                       "generationConfig": {"responseMimeType": "application/json",
                                            "responseJsonSchema": schema}}).encode()


@pytest.mark.parametrize("path,kind", [
    ("google/gemini/v1beta/models/gemini-3.5-flash-lite:generateContent", "json"),
    ("google/gemini/v1beta/models/gemini-3.5-flash-lite:streamGenerateContent?alt=sse", "sse"),
    (VERTEX + "gemini-2.5-flash:generateContent", "json"),
])
@pytest.mark.parametrize("schema,expect", [
    (GEMINI_CLI_NUMERICAL_SCHEMA,
     {"complexity_reasoning": ASSISTANT_TEXT, "complexity_score": 1}),
    (GEMINI_CLI_CHOICE_SCHEMA, {"reasoning": ASSISTANT_TEXT, "model_choice": "flash"}),
], ids=["numerical", "choice"])
def test_gemini_json_output_fits_the_schema(router, pki, tmp_path, path, kind, schema,
                                            expect):
    ans = call_requests(router.url + path, "POST", _json_mode_body(schema),
                        [("Content-Type", "application/json")], pki["ca"], tmp_path)
    assert ans.status == 200, ans.body[:300]
    if kind == "sse":
        chunks = [json.loads(d) for _, d in parse_sse(ans.body)]
    else:
        chunks = [json.loads(ans.body)]
    text = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert json.loads(text) == expect
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["promptTokenCount"] == INPUT_TOKENS
    assert router.requests()[0].route.startswith("google.") and ".json" in \
        router.requests()[0].route


def test_gemini_plain_request_keeps_plain_text(router, pki, tmp_path):
    """Only a request that asks for JSON gets JSON; text/plain stays text."""
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                       "generationConfig": {"responseMimeType": "text/plain"}}).encode()
    ans = call_requests(router.url + "google/gemini/v1beta/models/g:generateContent", "POST",
                        body, [], pki["ca"], tmp_path)
    obj = json.loads(ans.body)
    assert obj["candidates"][0]["content"]["parts"][0]["text"] == ASSISTANT_TEXT
