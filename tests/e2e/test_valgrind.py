"""valgrind memcheck over the C clients under librespan.so, end to end.

ossl_client (OpenSSL directly) and curl_client (libcurl) run under memcheck
with the library in LD_PRELOAD (valgrind passes it on to the client, after
its own preloads) and talk real TLS to the stand-in router on loopback, as
in test_openssl_clients.py. Every run is checked twice: the exchange went
through (routed, answered, logged), and memcheck found nothing: an invalid
read or write, a jump on an uninitialised value, a bad free, or a block
definitely, indirectly or possibly lost at exit makes the client exit with
MEMCHECK_FAILED, and the test shows memcheck's report. No suppressions:
OpenSSL, libcurl and the loader lose no block in these runs (what they keep
reachable at exit is not a leak), so every lost block is a failure, one
allocated by the library above all.

The cases cover what the library does in a process: a plain answer and
streams (SSE), blocking and non-blocking sessions, SSL_write_ex, a request
head written in 7-byte pieces, keep-alive with three exchanges on one
connection, libcurl's URL rewrite (string and CURLU), RESPAN_PARAMS (cJSON,
loaded on first need), a gzip-coded stream decoded for the log (zlib, the
same), bodies cut to RESPAN_LOG_BODY_MAX, and the library's own records: a
config_error event for a bad setting, a response record with an error for a
stream the router cut, and the blocked and http_error events of a request
the library refuses to send.

`make e2e-valgrind` runs this file (E2E_VALGRIND=1; `make e2e` skips it);
without valgrind it skips.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import zlib
from pathlib import Path

import pytest

from standin.clients import (ASSISTANT_TEXT, CALLS, CURL_CLIENT_KEYS, check_answer, check_log,
                             check_routed, http_request, log_pairs, parse_responses,
                             provider_key)
from standin.helpers import assert_no_secrets, make_secret, read_log, run

VALGRIND = shutil.which("valgrind", path="/usr/bin:/usr/local/bin")
MEMCHECK_FAILED = 99            # none of the clients' own statuses (0, 1, 2, 3)

pytestmark = [
    pytest.mark.skipif(os.environ.get("E2E_VALGRIND") != "1",
                       reason="slow (5 s a run): make e2e-valgrind runs these (E2E_VALGRIND=1)"),
    pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed "
                       "(scripts/install-deps installs it)"),
    pytest.mark.skipif(bool(os.environ.get("RESPAN_SAN_RUNTIME")),
                       reason="memcheck cannot run a sanitizer build"),
]

PARAMS = {"customer_identifier": "cust-vg", "metadata": {"run": "memcheck"}}


def memcheck(argv: list, env: dict, tmp_path: Path, expect_status: int = 0):
    """Run ARGV under memcheck with exactly ENV; fail the test with memcheck's
    report when it found anything, or when the client's own status is not
    EXPECT_STATUS (None: any). Returns the CompletedProcess."""
    report = tmp_path / "memcheck"
    report.mkdir(exist_ok=True)
    vg = [VALGRIND, "--tool=memcheck", f"--error-exitcode={MEMCHECK_FAILED}",
          "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
          "--errors-for-leak-kinds=definite,indirect,possible", "--num-callers=40",
          f"--log-file={report}/%p"]
    proc = run(vg + argv, env=env, timeout=180)
    text = "\n".join(p.read_text(errors="replace") for p in sorted(report.iterdir()))
    assert proc.returncode != MEMCHECK_FAILED, f"memcheck found errors:\n{text[-12000:]}"
    assert "ERROR SUMMARY: 0 errors" in text, text[-4000:]
    assert expect_status is None or proc.returncode == expect_status, \
        f"{argv[0]} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')[-3000:]}"
    return proc


def ossl(env, client_bin, tmp_path, call, key, flags=(), extra=(), repeat=1, expect_status=0,
         request=None):
    """ossl_client FLAGS under memcheck: REQUEST (raw bytes), or CALL made
    REPEAT times on one connection with EXTRA headers."""
    reqfile = tmp_path / "request.http"
    reqfile.write_bytes(request or b"".join(
        http_request(call, key, extra=extra, close=(i == repeat - 1)) for i in range(repeat)))
    return memcheck([client_bin("ossl_client"), *flags, call.host, reqfile], env, tmp_path,
                    expect_status)


@pytest.mark.parametrize("flags,call,repeat", [
    ((), "openai", 3),
    (("-n", "-x"), "anthropic-stream", 1),
], ids=["blocking-keepalive-3", "nonblocking-ex-stream"])
def test_ossl_client(flags, call, repeat, router, respan_env, client_bin, tmp_path):
    """RESPAN_PARAMS too: parsed with cJSON and sent as a header."""
    respan_env["RESPAN_PARAMS"] = json.dumps(PARAMS)
    call = CALLS[call]
    key = provider_key(call)
    proc = ossl(respan_env, client_bin, tmp_path, call, key, flags, repeat=repeat)
    answers = parse_responses(proc.stdout)
    assert len(answers) == repeat
    for status, _, body in answers:
        check_answer(call, status, body)
    sent = router.requests()
    assert len(sent) == repeat and len({r.conn for r in sent}) == 1
    for req in sent:
        check_routed(req, call, respan_env, key)
        assert json.loads(base64.b64decode(req.header("x-data-respan-params"))) == PARAMS
    check_log(respan_env, call, key, count=repeat, layer="openssl", sent=sent)


@pytest.mark.parametrize("flags,call,body_call", [
    ((), "openai", "openai"),
    (("-u",), "openai", "openai-stream"),
    ((), "gemini-query", "gemini-query"),
], ids=["plain", "curlu-stream", "gemini-key-in-query"])
def test_curl_client(flags, call, body_call, router, respan_env, client_bin, tmp_path):
    """libcurl's URL is rewritten before it connects (the CURLU handle's
    too); the stream is the same URL with "stream": true in the body."""
    call = CALLS[body_call]
    key = CURL_CLIENT_KEYS[call.provider]
    proc = memcheck([client_bin("curl_client"), *flags, call.provider,
                     call.body_bytes().decode()], respan_env, tmp_path)
    check_answer(call, 200, proc.stdout)
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    check_log(respan_env, call, key, layer="curl", sent=[req])


def test_records_of_the_library_own(router, respan_env, client_bin, tmp_path):
    """A bad setting (a config_error event and one stderr line), a gzip-coded
    stream written in 7-byte pieces and decoded for the log, bodies and
    text cut to RESPAN_LOG_BODY_MAX."""
    respan_env["RESPAN_PARAMS"] = "not json"
    respan_env["RESPAN_LOG_BODY_MAX"] = "20"
    call = CALLS["gemini-stream"]
    key = provider_key(call)
    proc = ossl(respan_env, client_bin, tmp_path, call, key, ("-c", "7"),
                extra=(("Accept-Encoding", "gzip"), ("X-Standin-Gzip", "1")))
    [(status, headers, body)] = parse_responses(proc.stdout)
    assert headers["content-encoding"] == "gzip"
    check_answer(call, status, zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body))
    warnings = [l for l in proc.stderr.decode().splitlines() if l.startswith("respan:")]
    assert len(warnings) == 1 and "RESPAN_PARAMS" in warnings[0], proc.stderr
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    log = read_log(respan_env["RESPAN_LOG"])
    [event] = [r for r in log if r["type"] == "event"]
    assert event["event"] == "config_error" and "RESPAN_PARAMS" in event["detail"]
    [(rec, resp)] = log_pairs(log)
    assert rec["body"] == call.body_bytes()[:20].decode() and rec["body_truncated"] is True
    assert resp["sse"] is True and resp["error"] is None and resp["body_truncated"] is True
    assert resp["output_text"] == ASSISTANT_TEXT[:20]
    assert (resp["usage"]["input_tokens"], resp["usage"]["output_tokens"]) == (11, 7)
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


def test_stream_cut_by_the_router(router, respan_env, client_bin, tmp_path):
    """The router drops the connection after two events: the response
    record says so, and the client sees the stream end early."""
    call = CALLS["anthropic-stream"]
    key = provider_key(call)
    proc = ossl(respan_env, client_bin, tmp_path, call, key, ("-n",),
                extra=(("X-Standin-Cut", "2"),), expect_status=None)
    assert proc.returncode in (0, 3)
    [req] = router.requests()
    check_routed(req, call, respan_env, key)
    [(rec, resp)] = log_pairs(read_log(respan_env["RESPAN_LOG"]))
    assert resp["status"] == 200 and resp["sse"] is True
    assert "before the response was complete" in resp["error"]
    assert_no_secrets(respan_env["RESPAN_LOG"], respan_env["RESPAN_API_KEY"], key)


def test_refused_request(router, respan_env, client_bin, tmp_path):
    """A request head the rewriter cannot read (two Content-Lengths) is never
    sent: the write fails as a TLS error would, and the log has the blocked
    and http_error events and no request."""
    key = make_secret("sk-proj-")
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
               b"Authorization: Bearer " + key.encode() + b"\r\n"
               b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
    ossl(respan_env, client_bin, tmp_path, CALLS["openai"], key, request=request,
         expect_status=3)
    assert router.requests() == []
    log = read_log(respan_env["RESPAN_LOG"])
    assert {"http_error", "blocked"} <= {r["event"] for r in log if r["type"] == "event"}
    assert [r for r in log if r["type"] != "event"] == []
    assert_no_secrets(respan_env["RESPAN_LOG"], key, respan_env["RESPAN_API_KEY"])
