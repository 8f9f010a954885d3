"""What a routed connection refuses to send: a request the rewriter cannot
read may hold the provider key, so it never reaches the router (SPEC section
3: no provider credential reaches the router). The C client writes it with
SSL_write through a real session."""

from __future__ import annotations

from standin.helpers import assert_no_secrets, make_secret, read_log, run


def test_malformed_request_never_reaches_router(respan_env, router, client_bin, tmp_path):
    provider_key = make_secret("sk-proj-")
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
               b"Authorization: Bearer " + provider_key.encode() + b"\r\n"
               b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
    req_file = tmp_path / "request.http"
    req_file.write_bytes(request)
    proc = run([client_bin("ossl_client"), "api.openai.com", req_file], env=respan_env)
    assert proc.returncode == 3, proc.stderr  # the write failed, as a TLS error would
    assert router.requests() == []
    events = {e["event"] for e in read_log(respan_env["RESPAN_LOG"], type="event")}
    assert {"http_error", "blocked"} <= events
    assert read_log(respan_env["RESPAN_LOG"], type="request") == []
    assert_no_secrets(respan_env["RESPAN_LOG"], provider_key, respan_env["RESPAN_API_KEY"])
