#!/usr/bin/env python3
"""A local stand-in for the Respan router, for the end-to-end tests and the demo.

A threaded TLS HTTP/1.1 server on loopback that records every request it
receives, byte for byte, and answers in each provider's own format (JSON or
SSE) with a fixed assistant text and fixed token counts, so that tests can
check both what reached the router and what the program and the log saw.

Command line (the demo and shell scripts):

    router.py --cert C --key K [--host 127.0.0.1] [--port 0] [--record FILE]
              [--ready-file F] [--base-path /api/] [-v]

prints the bound port on stdout and writes it to the ready file (atomically,
so `[ -s F ]` is a safe readiness test), and runs until SIGTERM or SIGINT.

In process (the pytest fixtures):

    r = Router(cert, key, host="127.0.0.1", port=0, record="rec.jsonl").start()
    r.url                      # https://127.0.0.1:PORT/api/
    r.url_for("localhost")     # https://localhost:PORT/api/
    r.requests()               # [RecordedRequest, ...] in arrival order
    r.stop()

Paths, under the base path (default /api/):

    chat/completions            OpenAI chat completion; "stream": true -> SSE
    responses                   OpenAI Responses API; "stream": true -> SSE
    embeddings                  OpenAI embeddings
    models                      GET: OpenAI model list
    anthropic/v1/messages       Anthropic Messages; "stream": true -> SSE
    anthropic/v1/messages/count_tokens
    google/gemini/...:generateContent, google/vertexai/...:generateContent
                                Gemini JSON
    google/{gemini,vertexai}/...:streamGenerateContent
                                ?alt=sse -> SSE, otherwise a streamed JSON array
                                A request for JSON output (generationConfig
                                responseMimeType application/json, as the
                                Gemini CLI's model-routing classifier sends)
                                gets, as its text, a JSON object that fits its
                                responseJsonSchema / responseSchema (first enum
                                value, minimum number), in one answer or chunk
    anything else               404, JSON error
    /__health                   200 "ok"

A request with `Upgrade: websocket` (OpenAI's Codex CLI opens its Responses
stream as a WebSocket GET of {base}responses first) gets 426 Upgrade
Required in the provider's error format: the stand-in speaks no WebSocket,
and a 426 makes Codex fall back to the streamed POST at once.

Per-request switches, as request headers (they pass through librespan
unchanged) or, where noted, as query parameters:

    X-Standin-Gzip: 1 (or ?standin_gzip=1)  gzip the response when the client
                                sent Accept-Encoding: gzip (streams are
                                compressed with a sync flush per event)
    X-Standin-Status: NNN       answer with an error in the provider's format
    X-Standin-Cut: N            streams: close the connection abruptly after N
                                events; JSON: after N body bytes
    X-Standin-Reset: N          the same, but reset it (TCP RST, no FIN)
    X-Standin-Delay-Ms: N       pause between stream events (default 2 ms,
                                at most 5000)

The record file is JSON Lines, one object per request (RecordedRequest.to_json):
method, path (the raw request-target), version, headers ([name, value] in
order, as received), body_base64, body_sha256, body_len, and connection
details (conn, seq, sni, alpn, ...). It is written before the response is
sent, so a client that has its answer can read its request back.

The server verifies nothing about clients; it only records. HTTP/2 is not
spoken: ALPN offers http/1.1 only, and a connection that starts with the
HTTP/2 preface is closed.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import parse_qs, urlsplit

# What every answer says, so tests can assert it.
ASSISTANT_TEXT = "Hello from the stand-in router"
TEXT_PIECES = ("Hello", " from the", " stand-in router")  # joined: ASSISTANT_TEXT
INPUT_TOKENS = 11
OUTPUT_TOKENS = 7
TOTAL_TOKENS = INPUT_TOKENS + OUTPUT_TOKENS
EMBEDDING_DIM = 8

DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "embeddings": "text-embedding-3-small",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.0-flash",
}

MAX_HEAD = 64 * 1024          # request line + headers
MAX_BODY = 64 * 1024 * 1024   # request body
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0           # keep-alive connections idle longer are closed
EVENT_GAP = 0.002             # seconds between stream events

H2_PREFACE_LINE = ("PRI", "*", "HTTP/2.0")
_HEX = re.compile(r"[0-9A-Fa-f]{1,16}")

REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    413: "Content Too Large", 426: "Upgrade Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
    529: "Overloaded",
}


# --------------------------------------------------------------------------
# What was received


@dataclass
class RecordedRequest:
    """One request as the router received it."""

    method: str
    path: str                 # the raw request-target, query included
    version: str              # "HTTP/1.1"
    headers: list             # [[name, value], ...] in order, as received
    body: bytes               # after chunked decoding; content codings kept
    index: int = 0            # 1-based, across the router's life (or since clear())
    conn: int = 0             # connection number (1-based)
    seq: int = 0              # request number on that connection (1-based)
    ts: float = 0.0
    client: str = ""          # peer address "host:port"
    sni: Optional[str] = None
    alpn: Optional[str] = None
    tls_version: Optional[str] = None
    chunked: bool = False     # the body came with Transfer-Encoding: chunked
    trailers: list = field(default_factory=list)
    expect_continue: bool = False  # a 100 Continue was sent before the body
    status: Optional[int] = None   # what the router answered
    route: Optional[str] = None    # which responder answered, e.g. "openai.chat"

    # -- convenience for tests
    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of header NAME (case-insensitive), or DEFAULT."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def header_all(self, name: str) -> list:
        """Every value of header NAME, in order."""
        return [v for n, v in self.headers if n.lower() == name.lower()]

    @property
    def url_path(self) -> str:
        """The path without the query."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict:
        """The query as {name: [values]}."""
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def json(self):
        """The body parsed as JSON (after undoing a gzip/deflate coding)."""
        return json.loads(_decode_content(self.body, self.header("content-encoding")))

    @property
    def body_sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def to_json(self) -> dict:
        """The object written to the record file."""
        return {
            "index": self.index, "ts": self.ts, "conn": self.conn, "seq": self.seq,
            "client": self.client, "sni": self.sni, "alpn": self.alpn,
            "tls_version": self.tls_version,
            "method": self.method, "path": self.path, "version": self.version,
            "headers": self.headers, "chunked": self.chunked, "trailers": self.trailers,
            "expect_continue": self.expect_continue,
            "body_base64": base64.b64encode(self.body).decode("ascii"),
            "body_sha256": self.body_sha256, "body_len": len(self.body),
            "status": self.status, "route": self.route,
        }

    @classmethod
    def from_json(cls, obj: dict) -> "RecordedRequest":
        fields = {k: v for k, v in obj.items()
                  if k not in ("body_base64", "body_sha256", "body_len")}
        return cls(body=base64.b64decode(obj["body_base64"]), **fields)


def load_records(path) -> list:
    """Read a record file written by the router (e.g. the CLI's --record)."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                out.append(RecordedRequest.from_json(json.loads(line)))
    return out


@dataclass
class Response:
    """What the router sends back. With `events`, the body is streamed:
    Transfer-Encoding: chunked, one chunk per event."""

    status: int = 200
    headers: list = field(default_factory=list)   # [(name, value)]
    body: bytes = b""
    events: Optional[list] = None                  # [bytes] for streams
    route: str = ""


class BadRequest(Exception):
    """The request cannot be parsed; answer STATUS and close."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _ClosedCleanly(Exception):
    """The client closed the connection between requests."""


# --------------------------------------------------------------------------
# Reading requests


class _Reader:
    """Buffered reads from one TLS connection."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> None:
        data = self.sock.recv(256 * 1024)
        if not data:
            raise EOFError("connection closed by the client")
        self.buf += data

    def read_line(self, limit: int) -> bytes:
        """One line without its LF (and CR). EOFError at end of stream."""
        start = 0
        while True:
            nl = self.buf.find(b"\n", start)
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[:nl + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > limit:
                raise BadRequest(431, "line too long")
            start = len(self.buf)
            self._fill()

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self) -> list:
        """The request line and header lines (without the blank line).

        Raises _ClosedCleanly when the client closes before a new request.
        Empty lines before the request line are skipped (RFC 9112 2.2).
        """
        lines = []
        total = 0
        while True:
            try:
                line = self.read_line(MAX_HEAD)
            except EOFError:
                if not lines and not self.buf:
                    raise _ClosedCleanly() from None
                raise
            if not line:
                if lines:
                    return lines
                continue
            total += len(line) + 2
            if total > MAX_HEAD:
                raise BadRequest(431, "request head too large")
            lines.append(line)


def _parse_head(lines: list):
    """(method, target, version, headers) from the head's lines."""
    request_line = lines[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise BadRequest(400, f"bad request line {request_line!r}")
    method, target, version = parts
    headers = []
    for raw in lines[1:]:
        text = raw.decode("latin-1")
        if text[:1] in (" ", "\t"):
            # obs-fold: a continuation of the previous header's value.
            if not headers:
                raise BadRequest(400, "continuation line before any header")
            headers[-1][1] = (headers[-1][1] + " " + text.strip(" \t")).strip(" ")
            continue
        name, sep, value = text.partition(":")
        if not sep or not name or name != name.strip(" \t"):
            raise BadRequest(400, f"bad header line {text!r}")
        headers.append([name, value.strip(" \t")])
    return method, target, version, headers


def _tokens(headers: list, name: str) -> list:
    """Comma-separated tokens of every NAME header, lower-cased."""
    out = []
    for n, v in headers:
        if n.lower() == name:
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
    return out


def _read_body(reader: _Reader, headers: list, send_continue: Callable[[], None]):
    """(body, chunked, trailers, continue_sent) per RFC 9112 section 6."""
    codings = _tokens(headers, "transfer-encoding")
    lengths = [v.strip() for n, v in headers if n.lower() == "content-length"]
    expect = _tokens(headers, "expect")
    if codings:
        if codings[-1] != "chunked":
            raise BadRequest(400, "Transfer-Encoding without chunked last")
        continue_sent = False
        if "100-continue" in expect:
            send_continue()
            continue_sent = True
        body, trailers = _read_chunked(reader)
        return body, True, trailers, continue_sent
    if lengths:
        values = {v for l in lengths for v in l.split(",")}
        values = {v.strip() for v in values}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise BadRequest(400, f"bad Content-Length {lengths!r}")
        n = int(next(iter(values)))
        if n > MAX_BODY:
            raise BadRequest(413, f"body of {n} bytes is too large")
        continue_sent = False
        if n and "100-continue" in expect:
            send_continue()
            continue_sent = True
        return reader.read_exact(n), False, [], continue_sent
    return b"", False, [], False


def _read_chunked(reader: _Reader):
    """A chunked body: (data, trailers)."""
    data = bytearray()
    while True:
        line = reader.read_line(4096).decode("latin-1")
        size_text = line.split(";", 1)[0].strip(" \t")
        if not _HEX.fullmatch(size_text):
            raise BadRequest(400, f"bad chunk size line {line!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        if len(data) + size > MAX_BODY:
            raise BadRequest(413, "chunked body too large")
        data += reader.read_exact(size)
        if reader.read_line(2) != b"":
            raise BadRequest(400, "chunk data not followed by CRLF")
    trailers = []
    while True:
        line = reader.read_line(MAX_HEAD)
        if not line:
            return bytes(data), trailers
        name, _, value = line.decode("latin-1").partition(":")
        trailers.append([name, value.strip(" \t")])


def _decode_content(body: bytes, coding: Optional[str]) -> bytes:
    """Undo a gzip or deflate Content-Encoding (others are left alone)."""
    coding = (coding or "").strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return body


# --------------------------------------------------------------------------
# Answers, one builder per provider format


def _dumps(obj, pretty: bool = False) -> bytes:
    if pretty:
        return json.dumps(obj, indent=2).encode()
    return json.dumps(obj, separators=(",", ":")).encode()


def _json_response(obj, route: str, status: int = 200, pretty: bool = False,
                   headers: Optional[list] = None) -> Response:
    return Response(status=status, route=route, body=_dumps(obj, pretty) + b"\n",
                    headers=[("Content-Type", "application/json")] + (headers or []))


def _sse_response(events: list, route: str, content_type: str) -> Response:
    return Response(route=route, events=events,
                    headers=[("Content-Type", content_type), ("Cache-Control", "no-cache")])


def _sse(data, event: Optional[str] = None, crlf: bool = False) -> bytes:
    """One server-sent event: optional `event:` line, one `data:` line."""
    nl = "\r\n" if crlf else "\n"
    payload = data if isinstance(data, str) else _dumps(data).decode()
    text = (f"event: {event}{nl}" if event else "") + f"data: {payload}{nl}{nl}"
    return text.encode()


def _error(provider: str, status: int, message: str, route: str = "error") -> Response:
    """An error body in the provider's own format."""
    if provider == "anthropic":
        kind = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error",
                429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return _json_response({"type": "error", "error": {"type": kind, "message": message}},
                              route, status)
    if provider == "gemini":
        kind = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                503: "UNAVAILABLE"}.get(status, "INTERNAL")
        return _json_response({"error": {"code": status, "message": message, "status": kind}},
                              route, status, pretty=True)
    kind = {400: "invalid_request_error", 401: "invalid_request_error",
            404: "not_found", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return _json_response({"error": {"message": message, "type": kind, "param": None,
                                     "code": str(status)}}, route, status, pretty=True)


def _openai_chat(req: RecordedRequest, body: dict) -> Response:
    model = body.get("model") if isinstance(body.get("model"), str) else DEFAULT_MODELS["openai"]
    rid = f"chatcmpl-standin{req.index}"
    created = int(req.ts)
    usage = {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
             "total_tokens": TOTAL_TOKENS}
    if not body.get("stream"):
        return _json_response({
            "id": rid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": ASSISTANT_TEXT,
                                     "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, "system_fingerprint": "fp_standin",
        }, "openai.chat", pretty=True)

    def chunk(delta, finish=None, **extra):
        return {"id": rid, "object": "chat.completion.chunk", "created": created,
                "model": model, "system_fingerprint": "fp_standin",
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}], **extra}

    # As OpenAI does: usage comes in an extra chunk with no choices, and
    # only when stream_options.include_usage is true.
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if include_usage else {}
    events = [_sse(chunk({"role": "assistant", "content": "", "refusal": None}, **extra))]
    events += [_sse(chunk({"content": piece}, **extra)) for piece in TEXT_PIECES]
    events.append(_sse(chunk({}, "stop", **extra)))
    if include_usage:
        last = chunk({}, usage=usage)
        last["choices"] = []
        events.append(_sse(last))
    events.append(_sse("[DONE]"))
    return _sse_response(events, "openai.chat.stream", "text/event-stream; charset=utf-8")


def _openai_responses(req: RecordedRequest, body: dict) -> Response:
    model = body.get("model") if isinstance(body.get("model"), str) else DEFAULT_MODELS["openai"]
    rid = f"resp_standin{req.index}"
    mid = f"msg_standin{req.index}"
    usage = {"input_tokens": INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": TOTAL_TOKENS}
    part = {"type": "output_text", "text": ASSISTANT_TEXT, "annotations": []}
    item = {"type": "message", "id": mid, "status": "completed", "role": "assistant",
            "content": [part]}

    def response_obj(status, output, use):
        return {"id": rid, "object": "response", "created_at": int(req.ts),
                "status": status, "error": None, "incomplete_details": None,
                "instructions": body.get("instructions"), "model": model,
                "output": output, "parallel_tool_calls": True, "previous_response_id": None,
                "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": [],
                "text": {"format": {"type": "text"}}, "truncation": "disabled",
                "usage": use, "metadata": {}}

    if not body.get("stream"):
        return _json_response(response_obj("completed", [item], usage), "openai.responses",
                              pretty=True)

    seq = iter(range(1000))

    def ev(kind, **data):
        return _sse({"type": kind, "sequence_number": next(seq), **data}, event=kind)

    events = [
        ev("response.created", response=response_obj("in_progress", [], None)),
        ev("response.in_progress", response=response_obj("in_progress", [], None)),
        ev("response.output_item.added", output_index=0,
           item={**item, "status": "in_progress", "content": []}),
        ev("response.content_part.added", item_id=mid, output_index=0, content_index=0,
           part={**part, "text": ""}),
    ]
    events += [ev("response.output_text.delta", item_id=mid, output_index=0,
                  content_index=0, delta=piece) for piece in TEXT_PIECES]
    events += [
        ev("response.output_text.done", item_id=mid, output_index=0, content_index=0,
           text=ASSISTANT_TEXT),
        ev("response.content_part.done", item_id=mid, output_index=0, content_index=0,
           part=part),
        ev("response.output_item.done", output_index=0, item=item),
        ev("response.completed", response=response_obj("completed", [item], usage)),
    ]
    return _sse_response(events, "openai.responses.stream", "text/event-stream; charset=utf-8")


def _openai_embeddings(req: RecordedRequest, body: dict) -> Response:
    model = (body.get("model") if isinstance(body.get("model"), str)
             else DEFAULT_MODELS["embeddings"])
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(
        inputs[0], int) else 1
    vector = [round(0.1 * (i + 1), 3) for i in range(EMBEDDING_DIM)]
    data = []
    for i in range(count):
        emb = vector
        if body.get("encoding_format") == "base64":
            emb = base64.b64encode(struct.pack(f"<{EMBEDDING_DIM}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return _json_response({"object": "list", "data": data, "model": model,
                           "usage": {"prompt_tokens": INPUT_TOKENS,
                                     "total_tokens": INPUT_TOKENS}},
                          "openai.embeddings", pretty=True)


def _openai_models(req: RecordedRequest) -> Response:
    models = [DEFAULT_MODELS["openai"], DEFAULT_MODELS["embeddings"]]
    return _json_response({"object": "list", "data": [
        {"id": m, "object": "model", "created": 1700000000, "owned_by": "standin"}
        for m in models]}, "openai.models", pretty=True)


def _upgrade_refused(req: RecordedRequest, provider: str) -> Optional[Response]:
    """The answer to a request asking to switch protocols (`Upgrade:
    websocket`), or None for any other request. The stand-in speaks no
    WebSocket: 426 Upgrade Required, in the provider's error format. OpenAI's
    Codex CLI opens its Responses stream as a WebSocket first (a GET of
    {base}responses with `Upgrade: websocket` and `OpenAI-Beta:
    responses_websockets=...`); a 426 makes it fall back to the HTTPS POST at
    once (a 404 or 405 costs it seven attempts and about 6 s of back-off)."""
    if "websocket" not in [t.lower() for t in _tokens(req.headers, "upgrade")]:
        return None        # an h2c upgrade may be ignored, as HTTP/1.1 servers do
    return _error(provider, 426, f"the stand-in router speaks no WebSocket; use "
                  f"HTTP/1.1 ({req.method} {req.url_path})",
                  route=f"{provider}.upgrade_refused")


def _anthropic_messages(req: RecordedRequest, body: dict) -> Response:
    model = (body.get("model") if isinstance(body.get("model"), str)
             else DEFAULT_MODELS["anthropic"])
    mid = f"msg_standin{req.index}"
    headers = [("request-id", f"req_standin{req.index}")]
    if not body.get("stream"):
        resp = _json_response({
            "id": mid, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": ASSISTANT_TEXT}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
        }, "anthropic.messages", headers=headers)
        return resp

    def ev(kind, **data):
        return _sse({"type": kind, **data}, event=kind)

    events = [
        ev("message_start", message={
            "id": mid, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}),
        ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        ev("ping"),
    ]
    events += [ev("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})
               for piece in TEXT_PIECES]
    events += [
        ev("content_block_stop", index=0),
        ev("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None},
           usage={"output_tokens": OUTPUT_TOKENS}),
        ev("message_stop"),
    ]
    resp = _sse_response(events, "anthropic.messages.stream", "text/event-stream; charset=utf-8")
    resp.headers += headers
    return resp


def _schema_example(schema, depth: int = 0):
    """A value that satisfies the JSON schema SCHEMA (Gemini's Schema or plain
    JSON Schema; type names in any case): the first enum value, the minimum
    of a number, the required properties of an object."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):      # JSON Schema: ["string", "null"]
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind or "").lower()
    if not kind and "properties" in schema:
        kind = "object"
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {name: _schema_example(props.get(name), depth + 1) for name in required
                if name in props}
    if kind == "array":
        count = schema.get("minItems") or 0
        return [_schema_example(schema.get("items"), depth + 1) for _ in range(int(count))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 1)
        try:
            low = int(low) if kind == "integer" else float(low)
        except (TypeError, ValueError):
            low = 1
        return low
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return ASSISTANT_TEXT


def _gemini_structured_text(body: dict) -> Optional[str]:
    """The answer text for a Gemini request asking for JSON output
    (generationConfig.responseMimeType application/json), as the Gemini CLI's
    model-routing classifier and other generateJson calls do: an object that
    fits the request's responseJsonSchema (or responseSchema). None for a
    request that does not ask for JSON."""
    config = body.get("generationConfig") or body.get("generation_config") or {}
    if not isinstance(config, dict):
        return None
    mime = config.get("responseMimeType") or config.get("response_mime_type") or ""
    if str(mime).split(";")[0].strip().lower() != "application/json":
        return None
    schema = (config.get("responseJsonSchema") or config.get("responseSchema")
              or config.get("response_json_schema") or config.get("response_schema"))
    value = _schema_example(schema) if schema else {"text": ASSISTANT_TEXT}
    if value is None:
        value = {"text": ASSISTANT_TEXT}
    return json.dumps(value)


def _gemini(req: RecordedRequest, body: dict, flavour: str, model: str,
            method: str) -> Response:
    """generateContent / streamGenerateContent for Gemini and Vertex AI."""
    rid = f"standin-{req.index}"
    route = f"google.{flavour}"

    def piece(text, finish, usage):
        cand = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = "STOP"
        obj = {"candidates": [cand], "usageMetadata": usage, "modelVersion": model,
               "responseId": rid}
        if flavour == "vertexai":
            obj["createTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                              time.gmtime(req.ts))
        return obj

    full_usage = {"promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS,
                  "totalTokenCount": TOTAL_TOKENS}
    structured = _gemini_structured_text(body)
    if structured is not None and method in ("generateContent", "streamGenerateContent"):
        # JSON asked for (e.g. the Gemini CLI's model-routing classifier):
        # the whole object in one answer or one stream chunk.
        answer = piece(structured, True, full_usage)
        if method == "generateContent":
            return _json_response(answer, route + ".json", pretty=True)
        if req.query.get("alt", [""])[-1] == "sse":
            return _sse_response([_sse(answer, crlf=True)], route + ".json.stream",
                                 "text/event-stream")
        return _sse_response([b"[" + _dumps(answer, pretty=True), b"]"],
                             route + ".json.stream.array", "application/json; charset=UTF-8")
    if method == "generateContent":
        return _json_response(piece(ASSISTANT_TEXT, True, full_usage), route, pretty=True)
    if method == "countTokens":
        return _json_response({"totalTokens": INPUT_TOKENS}, route + ".count", pretty=True)

    # streamGenerateContent: one chunk per text piece; usage complete in the last.
    chunks = []
    for i, text in enumerate(TEXT_PIECES):
        last = i == len(TEXT_PIECES) - 1
        usage = full_usage if last else {"promptTokenCount": INPUT_TOKENS,
                                         "totalTokenCount": INPUT_TOKENS}
        chunks.append(piece(text, last, usage))
    if req.query.get("alt", [""])[-1] == "sse":
        # Google ends its SSE lines with CRLF.
        return _sse_response([_sse(c, crlf=True) for c in chunks], route + ".stream",
                             "text/event-stream")
    # Without alt=sse: one JSON array, streamed element by element.
    events = []
    for i, c in enumerate(chunks):
        events.append((b"[" if i == 0 else b"\n,\r\n") + _dumps(c, pretty=True))
    events.append(b"]")
    resp = _sse_response(events, route + ".stream.array", "application/json; charset=UTF-8")
    return resp


def build_response(req: RecordedRequest, base_path: str = "/api/") -> Response:
    """The stand-in's answer to REQ (everything but the transfer details)."""
    path = req.url_path
    if path == "/__health":
        return Response(body=b"ok", route="health", headers=[("Content-Type", "text/plain")])
    if not path.startswith(base_path):
        return _error("openai", 404, f"no such path {path} (base path is {base_path})")
    rest = path[len(base_path):]
    if rest.startswith("v1beta/models/"):
        # Google's own path, on a stand-in for generativelanguage.googleapis.com
        rest = "google/gemini/" + rest
    elif rest.startswith("v1/messages") and base_path == "/":
        # Anthropic's own path, on a stand-in for api.anthropic.com
        rest = "anthropic/" + rest
    provider = ("anthropic" if rest.startswith("anthropic/") else
                "gemini" if rest.startswith("google/") else "openai")

    forced = req.header("x-standin-status")
    if forced and forced.strip().isdigit() and int(forced) >= 400:
        return _error(provider, int(forced), f"stand-in error {forced} as requested",
                      route=f"{provider}.forced_error")
    if "//" in path:
        return _error(provider, 404, f"empty segment in path {path}")
    refused = _upgrade_refused(req, provider)
    if refused is not None:
        return refused
    if rest == "models":
        if req.method != "GET":
            return _error(provider, 405, "use GET")
        return _openai_models(req)

    handler = _find_endpoint(rest)
    if handler is None:
        return _error(provider, 404, f"no stand-in endpoint for {path}")
    if req.method != "POST":
        resp = _error(provider, 405, f"{req.method} not allowed on {path}; use POST")
        resp.headers.append(("Allow", "POST"))
        return resp
    try:
        body = json.loads(_decode_content(req.body, req.header("content-encoding")) or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except (ValueError, zlib.error) as e:
        return _error(provider, 400, f"request body is not a JSON object: {e}")
    return handler(req, body)


def _find_endpoint(rest: str):
    """The builder for REST (the path after the base path), or None."""
    simple = {
        "chat/completions": _openai_chat,
        "responses": _openai_responses,
        "embeddings": _openai_embeddings,
        "anthropic/v1/messages": _anthropic_messages,
        "anthropic/v1/messages/count_tokens":
            lambda req, body: _json_response({"input_tokens": INPUT_TOKENS},
                                             "anthropic.count_tokens"),
    }
    if rest in simple:
        return simple[rest]
    for flavour in ("gemini", "vertexai"):
        prefix = f"google/{flavour}/"
        if rest.startswith(prefix):
            # .../models/MODEL:METHOD (Gemini: v1beta/models/..., Vertex:
            # v1/projects/P/locations/L/publishers/google/models/...)
            segments = rest[len(prefix):].split("/")
            if len(segments) >= 2 and segments[-2] == "models" and ":" in segments[-1]:
                model, _, method = segments[-1].partition(":")
                if model and method in ("generateContent", "streamGenerateContent",
                                        "countTokens"):
                    return (lambda req, body, f=flavour, m=model, x=method:
                            _gemini(req, body, f, m, x))
    return None


# --------------------------------------------------------------------------
# The server


def _accepts_gzip(headers: list) -> bool:
    for token in _tokens(headers, "accept-encoding"):
        coding, _, params = token.partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if coding.strip() in ("gzip", "x-gzip", "*") and q > 0:
            return True
    return False


class Router:
    """The stand-in router. Thread-safe; start() returns self."""

    def __init__(self, cert: str, key: str, host: str = "127.0.0.1", port: int = 0,
                 record: Optional[str] = None, base_path: str = "/api/",
                 verbose: bool = False):
        if not base_path.startswith("/") or not base_path.endswith("/"):
            raise ValueError("base_path must start and end with '/'")
        self.host = host
        self.port = port
        self.base_path = base_path
        self.record_path = record
        self.verbose = verbose
        # A hook for tests: override(req) -> Response or None (None: the usual answer).
        self.override: Optional[Callable[[RecordedRequest], Optional[Response]]] = None

        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert, key)
        self._ctx.set_alpn_protocols(["http/1.1"])
        self._ctx.sni_callback = self._on_sni

        self._lock = threading.Condition()
        self._requests: list = []
        self._errors: list = []
        self._index = 0
        self._conn_count = 0
        self._live: dict = {}          # conn number -> socket
        self._threads: list = []
        self._stopping = threading.Event()
        self._listener: Optional[socket.socket] = None
        self._accept_thread: Optional[threading.Thread] = None
        self._record_file = None

    # -- public API

    def start(self) -> "Router":
        info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                  flags=socket.AI_PASSIVE | socket.AI_NUMERICHOST)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(1024)
        sock.settimeout(0.1)   # so the accept loop notices stop()
        self._listener = sock
        self.port = sock.getsockname()[1]
        if self.record_path:
            self._record_file = open(self.record_path, "wb")
        self._accept_thread = threading.Thread(target=self._accept_loop,
                                               name=f"standin-accept-{self.port}", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut every open connection, wait for the threads."""
        self._stopping.set()
        if self._accept_thread:
            self._accept_thread.join(5)
        if self._listener:
            self._listener.close()
        with self._lock:
            live = list(self._live.values())
            threads = list(self._threads)
        for s in live:
            try:
                socket.socket.shutdown(s, socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)
        if self._record_file:
            self._record_file.close()
            self._record_file = None

    def __enter__(self) -> "Router":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, by address: https://127.0.0.1:PORT/api/ or https://[::1]:PORT/api/."""
        return self.url_for(self.host)

    def url_for(self, hostname: str) -> str:
        """The base URL with HOSTNAME (e.g. "localhost") as the host."""
        h = f"[{hostname}]" if ":" in hostname else hostname
        return f"https://{h}:{self.port}{self.base_path}"

    def requests(self) -> list:
        """Every request received since start() or clear(), in arrival order."""
        with self._lock:
            return list(self._requests)

    def errors(self) -> list:
        """Connection-level problems: TLS handshake failures, HTTP/2 prefaces,
        unparsable requests. Dicts with conn, kind, detail."""
        with self._lock:
            return list(self._errors)

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        """Wait until at least COUNT requests have been recorded; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._requests)} of {count} requests arrived")
                self._lock.wait(left)
            return list(self._requests)

    def clear(self, settle: float = 5.0) -> None:
        """Forget the requests and errors so far (the record file is truncated)
        and drop the override. Connections still being served (a previous
        test's client may have exited before this thread noted its failed
        handshake) are waited for, up to SETTLE seconds, so that nothing of
        theirs lands in the next test's records."""
        deadline = time.monotonic() + settle
        with self._lock:
            while self._live and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            self._requests.clear()
            self._errors.clear()
            self._index = 0
            self.override = None
            if self._record_file:
                self._record_file.seek(0)
                self._record_file.truncate()
                self._record_file.flush()

    # -- internals

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(f"standin: {msg}", file=sys.stderr, flush=True)

    def _note_error(self, conn: int, kind: str, detail: str) -> None:
        with self._lock:
            self._errors.append({"ts": time.time(), "conn": conn, "kind": kind,
                                 "detail": detail})
        self._log(f"conn {conn}: {kind}: {detail}")

    @staticmethod
    def _on_sni(sslsock, name, ctx) -> None:
        sslsock.standin_sni = name   # read back once the handshake is done

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                raw, addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            with self._lock:
                self._conn_count += 1
                conn = self._conn_count
                self._live[conn] = raw
                t = threading.Thread(target=self._serve, args=(raw, addr, conn),
                                     name=f"standin-conn-{conn}", daemon=True)
                self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _serve(self, raw: socket.socket, addr, conn: int) -> None:
        client = f"{addr[0]}:{addr[1]}"
        sock = None
        try:
            raw.settimeout(HANDSHAKE_TIMEOUT)
            sock = self._ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            with self._lock:
                self._live[conn] = sock
            try:
                sock.do_handshake()
            except (ssl.SSLError, OSError) as e:
                self._note_error(conn, "tls_handshake", str(e))
                return
            sock.settimeout(IDLE_TIMEOUT)
            tls = {"sni": getattr(sock, "standin_sni", None),
                   "alpn": sock.selected_alpn_protocol(), "tls_version": sock.version()}
            self._log(f"conn {conn} from {client}: {tls}")
            self._serve_requests(sock, conn, client, tls)
        except Exception as e:  # never let a thread die noisily
            if not self._stopping.is_set():
                self._note_error(conn, "internal", repr(e))
        finally:
            with self._lock:
                self._live.pop(conn, None)
                self._lock.notify_all()
            if sock is not None:
                sock.close()
            else:
                raw.close()

    def _serve_requests(self, sock: ssl.SSLSocket, conn: int, client: str, tls: dict) -> None:
        reader = _Reader(sock)
        seq = 0
        while not self._stopping.is_set():
            try:
                lines = reader.read_head()
                method, target, version, headers = _parse_head(lines)
                if (method, target, version) == H2_PREFACE_LINE:
                    self._note_error(conn, "h2_preface", "HTTP/2 connection preface; closing")
                    return self._close_abruptly(sock)
                if version not in ("HTTP/1.1", "HTTP/1.0"):
                    raise BadRequest(505, f"unsupported version {version!r}")
                sent_continue = []

                def send_continue():
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    sent_continue.append(True)

                body, chunked, trailers, continued = _read_body(reader, headers, send_continue)
            except _ClosedCleanly:
                return self._close_gracefully(sock)
            except (socket.timeout, TimeoutError):
                return self._close_gracefully(sock)
            except EOFError as e:
                self._note_error(conn, "eof_mid_request", str(e))
                return
            except BadRequest as e:
                self._note_error(conn, "bad_request", e.detail)
                self._send_simple(sock, e.status, e.detail)
                return self._close_gracefully(sock)
            except (ssl.SSLError, OSError) as e:
                if not self._stopping.is_set():
                    self._note_error(conn, "io", str(e))
                return

            seq += 1
            req = RecordedRequest(method=method, path=target, version=version,
                                  headers=headers, body=body, conn=conn, seq=seq,
                                  ts=time.time(), client=client, chunked=chunked,
                                  trailers=trailers, expect_continue=continued, **tls)
            keep_alive = self._keep_alive(version, headers)
            try:
                keep_alive = self._answer(sock, req, keep_alive)
            except (ssl.SSLError, OSError) as e:
                if not self._stopping.is_set():
                    self._note_error(conn, "io", f"while answering: {e}")
                return
            if not keep_alive:
                return self._close_gracefully(sock)

    @staticmethod
    def _keep_alive(version: str, headers: list) -> bool:
        tokens = _tokens(headers, "connection")
        if version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def _record(self, req: RecordedRequest) -> None:
        """Keep REQ and write it to the record file (REQ.index is set)."""
        with self._lock:
            self._index = req.index
            self._requests.append(req)
            if self._record_file:
                self._record_file.write(json.dumps(req.to_json()).encode() + b"\n")
                self._record_file.flush()
            self._lock.notify_all()

    def _answer(self, sock: ssl.SSLSocket, req: RecordedRequest, keep_alive: bool) -> bool:
        """Build and send the response to REQ; False if the connection must close."""
        # Number, answer and record under the lock, so that indexes, the
        # in-process list and the record file agree even with many
        # connections (building an answer takes microseconds; the lock is
        # re-entrant, so an override may call requests()).
        with self._lock:
            req.index = self._index + 1
            resp = self.override(req) if self.override else None
            if resp is None:
                resp = build_response(req, self.base_path)
            req.status, req.route = resp.status, resp.route
            self._record(req)

        gzip_wanted = (req.header("x-standin-gzip", "").strip() == "1"
                       or req.query.get("standin_gzip", [""])[-1] == "1")
        use_gzip = bool(gzip_wanted and _accepts_gzip(req.headers) and (resp.body or resp.events))
        cut = req.header("x-standin-cut")
        reset = req.header("x-standin-reset")
        if reset and reset.strip().isdigit():
            cut = reset
        cut = int(cut) if cut and cut.strip().isdigit() else None
        drop = self._reset_now if reset and reset.strip().isdigit() else self._close_abruptly
        delay = req.header("x-standin-delay-ms")
        gap = min(int(delay), 5000) / 1000 if delay and delay.strip().isdigit() else EVENT_GAP
        # HTTP/1.0 clients cannot take chunked bodies: streams end at close.
        streaming = resp.events is not None
        if streaming and req.version == "HTTP/1.0":
            keep_alive = False

        head = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}",
                f"Date: {email.utils.formatdate(usegmt=True)}",
                "Server: respan-standin"]
        head += [f"{n}: {v}" for n, v in resp.headers]
        head.append(f"X-Request-Id: standin-{req.index}")
        head.append(f"X-Standin-Route: {resp.route}")
        if use_gzip:
            head += ["Content-Encoding: gzip", "Vary: Accept-Encoding"]
        compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS) if use_gzip else None

        if not streaming:
            body = resp.body if req.method != "HEAD" else b""
            if compressor:
                body = compressor.compress(body) + compressor.flush()
            head.append(f"Content-Length: {len(body)}")
            head.append("Connection: keep-alive" if keep_alive else "Connection: close")
            data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
            if cut is not None:
                sock.sendall(data[:len(data) - len(body) + cut])
                drop(sock)
                return False
            sock.sendall(data)
            return keep_alive

        chunked = req.version == "HTTP/1.1"
        if chunked:
            head.append("Transfer-Encoding: chunked")
        head.append("Connection: keep-alive" if keep_alive else "Connection: close")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        for i, event in enumerate(resp.events):
            if cut is not None and i >= cut:
                drop(sock)
                return False
            if i:
                time.sleep(gap)
            if compressor:
                event = compressor.compress(event) + compressor.flush(zlib.Z_SYNC_FLUSH)
            sock.sendall(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
        tail = compressor.flush() if compressor else b""
        if chunked:
            sock.sendall((b"%x\r\n%s\r\n" % (len(tail), tail) if tail else b"") + b"0\r\n\r\n")
        elif tail:
            sock.sendall(tail)
        return keep_alive

    @staticmethod
    def _send_simple(sock, status: int, detail: str) -> None:
        body = _dumps({"error": {"message": detail, "code": status}}) + b"\n"
        head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n")
        try:
            sock.sendall(head.encode() + body)
        except OSError:
            pass

    @staticmethod
    def _close_gracefully(sock: ssl.SSLSocket) -> None:
        """Send TLS close_notify without waiting for the client's, then close."""
        try:
            sock.setblocking(False)
            sock.unwrap()
        except (ssl.SSLError, OSError, ValueError):
            pass

    @staticmethod
    def _reset_now(sock: ssl.SSLSocket) -> None:
        """Reset the TCP connection: linger 0, then close (an RST, no FIN)."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.socket.close(sock)
        except OSError:
            pass

    @staticmethod
    def _close_abruptly(sock: ssl.SSLSocket) -> None:
        """Drop the TCP connection without close_notify (a cut, not an end)."""
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


# --------------------------------------------------------------------------
# Command line


def _write_ready_file(path: str, port: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Local stand-in for the Respan router.")
    ap.add_argument("--cert", required=True, help="server certificate (PEM)")
    ap.add_argument("--key", required=True, help="its private key (PEM)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    ap.add_argument("--record", help="JSONL file receiving one object per request")
    ap.add_argument("--ready-file", help="file receiving the bound port once listening")
    ap.add_argument("--base-path", default="/api/", help="router base path (default /api/)")
    ap.add_argument("-v", "--verbose", action="store_true", help="connection notes on stderr")
    args = ap.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    router = Router(args.cert, args.key, host=args.host, port=args.port,
                    record=args.record, base_path=args.base_path,
                    verbose=args.verbose).start()
    print(router.port, flush=True)
    if args.ready_file:
        _write_ready_file(args.ready_file, router.port)
    while not stop.wait(0.2):
        pass
    router.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
