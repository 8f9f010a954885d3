"""What a routed connection refuses to send: a request the rewriter cannot
read may hold the provider key, so it never reaches the router
(docs/contract.md#routes: no provider credential reaches the router). The C client writes it with
SSL_write through a real session."""

from __future__ import annotations

import re

import pytest

from standin.helpers import assert_no_secrets, make_secret, read_log, run


@pytest.mark.parametrize("flags", [[], ["-n", "-k"]], ids=["blocking", "nonblocking-read-first"])
def test_malformed_request_never_reaches_router(flags, respan_env, router, client_bin, tmp_path):
    """-n -k: an SSL_read that found nothing (WANT_READ) came first; the
    refused write must still look like an error, not "try again"."""
    provider_key = make_secret("sk-proj-")
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
               b"Authorization: Bearer " + provider_key.encode() + b"\r\n"
               b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
    req_file = tmp_path / "request.http"
    req_file.write_bytes(request)
    proc = run([client_bin("ossl_client"), *flags, "api.openai.com", req_file], env=respan_env)
    assert proc.returncode == 3, proc.stderr  # the write failed, as a TLS error would
    err = proc.stderr.decode()
    if flags:
        assert "first read: SSL_get_error 2" in err, err   # SSL_ERROR_WANT_READ
    # SSL_ERROR_SSL (1) or SSL_ERROR_SYSCALL (5): not a WANT_* a program retries.
    assert re.search(r"SSL_write failed: SSL_get_error [15]\b", err), err
    assert router.requests() == []
    events = {e["event"] for e in read_log(respan_env["RESPAN_LOG"], type="event")}
    assert {"http_error", "blocked"} <= events
    assert read_log(respan_env["RESPAN_LOG"], type="request") == []
    assert_no_secrets(respan_env["RESPAN_LOG"], provider_key, respan_env["RESPAN_API_KEY"])


PY_TWO_CALLS = r"""
import http.client, ssl
c = http.client.HTTPSConnection("api.openai.com", context=ssl.create_default_context())
for _ in range(2):
    c.request("POST", "/v1/chat/completions", '{"model": "m", "messages": []}',
              {"Authorization": "Bearer sk-ignored", "Content-Type": "application/json"})
    r = c.getresponse()
    print(r.status, r.read().count(b"Hello from the stand-in router"))
"""


def test_full_disk_log_never_breaks_the_program(respan_env, router, tmp_path):
    """A log that cannot be written (/dev/full: ENOSPC on every write): the
    calls still go through and are routed, and stderr says so once."""
    script = tmp_path / "two.py"
    script.write_text(PY_TWO_CALLS)
    respan_env["RESPAN_LOG"] = "/dev/full"
    proc = run(["/usr/bin/python3", script], env=respan_env, check=True)
    assert proc.stdout.split() == [b"200", b"1", b"200", b"1"]
    assert len(router.requests()) == 2
    lines = proc.stderr.decode().splitlines()
    assert lines == ["respan: RESPAN_LOG=/dev/full: No space left on device: "
                     "records are being lost"], lines
