"""`respan log show|har|summary|curl` (docs/contract.md#the-respan-command,
docs/respan-log.md), read against logs that real clients wrote under
librespan.so: Python's http.client over libssl calling api.openai.com,
api.anthropic.com and generativelanguage.googleapis.com (routed to the
stand-in), a TLS client that bypasses the router (events), a program that
exits mid-stream and one killed mid-stream (no response record at all).

Every expectation is computed here from the log itself (standin.helpers
read_log), not from respan's own reading of it. The commands `respan log
curl` prints are run (bash and sh) against the stand-in router, which must
receive what the library sent in the first place.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from standin.helpers import (USERS_OWN_BASE_URL, assert_no_secrets, make_respan_env,
                             make_secret, read_log, run)

PYTHON = "/usr/bin/python3"
NODE = "/usr/bin/node"
HAR_VALIDATOR = Path("/usr/share/nodejs/har-validator/lib/promise.js")
ASSISTANT_TEXT = "Hello from the stand-in router"

# The client: one process making the calls its mode names (argv: mode, then
# the provider keys). Keys are the program's own: they must never be shown.
CLIENT = r"""
import http.client, json, os, ssl, sys, time
mode, oai, ant, gem = sys.argv[1:5]
def conn(host):
    return http.client.HTTPSConnection(host, context=ssl.create_default_context())
def call(host, target, body, headers):
    c = conn(host)
    c.request("POST", target, body, headers)
    r = c.getresponse()
    data = r.read()
    print(r.status, len(data), flush=True)
    return r.status
OAI = {"Authorization": "Bearer " + oai, "Content-Type": "application/json"}
ANT = {"x-api-key": ant, "anthropic-version": "2023-06-01", "content-type": "application/json"}
def chat(content, **extra):
    return json.dumps(dict({"model": "gpt-4o-mini",
                            "messages": [{"role": "user", "content": content}]}, **extra))
ANT_STREAM = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True,
                         "messages": [{"role": "user", "content": "Say hello"}]})
if mode == "mixed":
    call("api.openai.com", "/v1/chat/completions?x=1&y=a%20b+c", chat("first"), OAI)
    call("api.anthropic.com", "/v1/messages?beta=true", ANT_STREAM, ANT)
    call("api.openai.com", "/v1/chat/completions", chat("rate me"),
         dict(OAI, **{"X-Standin-Status": "429"}))
    call("generativelanguage.googleapis.com",
         "/v1beta/models/gemini-2.0-flash:generateContent?key=" + gem,
         json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
         {"Content-Type": "application/json"})
    # A body that is not text: logged as body_base64.
    call("api.openai.com", "/v1/files", b"\x00\x01\x02binary\xff\xfe" * 10,
         {"Authorization": "Bearer " + oai, "Content-Type": "application/octet-stream"})
    call("api.openai.com", "/v1/chat/completions",
         chat("stream it", stream=True, stream_options={"include_usage": True}), OAI)
elif mode == "one":
    call("api.openai.com", "/v1/chat/completions", chat(sys.argv[5]), OAI)
elif mode == "big":
    call("api.openai.com", "/v1/chat/completions", chat(sys.argv[5] * int(sys.argv[6])), OAI)
elif mode in ("hang", "exit"):
    # A stream the program stops reading: killed (no response record can
    # be written) or exiting normally (the library ends the exchange).
    c = conn("api.anthropic.com")
    c.request("POST", "/v1/messages", ANT_STREAM,
              dict(ANT, **{"X-Standin-Delay-Ms": "1500"}))
    r = c.getresponse()
    r.readline()
    print("ready", flush=True)
    if mode == "exit":
        sys.exit(0)
    time.sleep(60)
"""

# A TLS client that sends SNI api.openai.com to the stand-in, as a program
# that resolved the name itself would: not_routed and bypass events.
SNI_CLIENT = r"""
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
ctx.wrap_socket(s, server_hostname="api.openai.com").close()
"""


# --------------------------------------------------------------------------
# Fixtures


class Keys:
    def __init__(self):
        self.openai = make_secret("sk-proj-")
        self.anthropic = make_secret("sk-ant-api03-")
        self.gemini = make_secret("AIza")

    def all(self, env) -> tuple:
        return (self.openai, self.anthropic, self.gemini, env["RESPAN_API_KEY"])


def client(env, keys, mode, *args, check=True, timeout=60):
    script = Path(env["HOME"]) / "client.py"
    if not script.exists():
        script.write_text(CLIENT)
    return run([PYTHON, script, mode, keys.openai, keys.anthropic, keys.gemini, *args],
               env=env, check=check, timeout=timeout)


def start_client(env, keys, mode) -> subprocess.Popen:
    """A client that is left streaming: returns once its request was sent."""
    script = Path(env["HOME"]) / "client.py"
    script.write_text(CLIENT)
    proc = subprocess.Popen([PYTHON, str(script), mode, keys.openai, keys.anthropic,
                             keys.gemini], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    assert line == b"ready\n", (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


@pytest.fixture(scope="module")
def traffic(_router4, pki, librespan, tmp_path_factory):
    """One log written by real clients: a stream that never ends (its
    process is killed later), six calls of one process, an egress bypass,
    and a program that exits mid-stream. Yields (env, keys, log path)."""
    tmp = tmp_path_factory.mktemp("traffic")
    env = make_respan_env(tmp, _router4, pki, preload=librespan)
    keys = Keys()
    hanging = start_client(env, keys, "hang")
    try:
        client(env, keys, "mixed")
        sni = tmp / "sni.py"
        sni.write_text(SNI_CLIENT)
        # The user's own OpenAI base URL: no Respan key for OpenAI in this
        # process, so the unrouted connection is let through as a bypass.
        run([PYTHON, sni, _router4.port, pki["ca"]],
            env=dict(env, **USERS_OWN_BASE_URL["openai"]), check=True)
        exiting = start_client(env, keys, "exit")
        exiting.communicate(timeout=30)
        assert exiting.returncode == 0
    finally:
        hanging.kill()
        hanging.wait()
        hanging.stdout.close()
        hanging.stderr.close()
    log = Path(env["RESPAN_LOG"])
    assert_no_secrets(log, *keys.all(env))
    yield env, keys, log
    # The stand-in notes an error when it writes to a client that is gone:
    # let that happen here, not during another module's test.
    deadline = time.monotonic() + 10
    while _router4._live and time.monotonic() < deadline:
        time.sleep(0.1)


def respan(cli, args, env, **kw) -> subprocess.CompletedProcess:
    return run([cli, *args], env=env, **kw)


def log_env(env) -> dict:
    """The environment for respan itself: no preload."""
    return {k: v for k, v in env.items() if k != "LD_PRELOAD"}


def exchanges(records) -> list:
    """[(request, response or None)] in the order of the request records."""
    responses = {r["id"]: r for r in records if r["type"] == "response"}
    return [(r, responses.get(r["id"])) for r in records if r["type"] == "request"]


def check_no_secrets_in(text: bytes, tmp_path: Path, *secrets: str) -> None:
    out = tmp_path / f"output-{time.monotonic_ns()}.txt"
    out.write_bytes(text)
    assert_no_secrets(out, *secrets)


# --------------------------------------------------------------------------
# respan log show


def paragraphs(text: str) -> list:
    return [p for p in text.split("\n\n") if p.strip()]


def parse_show(text: str) -> tuple:
    """(blocks, event lines) of show's output; a block is a list of lines."""
    blocks, events = [], []
    for para in paragraphs(text):
        lines = para.split("\n")
        if "  event " in lines[0]:
            assert all("  event " in ln for ln in lines if ln), para
            events += [ln for ln in lines if ln]
        else:
            blocks.append([ln for ln in lines if ln])
    return blocks, events


def expected_head(req) -> str:
    return (f"{req['ts']}  pid {req['pid']} ({os.path.basename(req['exe'])})  "
            f"{req['provider']} via {req['layer']}  [{req['id']}]")


def expected_status(resp) -> str:
    line = f"  status {resp['status']}  {resp['duration_ms']} ms"
    if resp["sse"] and resp["ttfb_ms"] is not None:
        line += f" (first byte {resp['ttfb_ms']} ms)"
    usage = resp["usage"]
    if usage and (usage["input_tokens"] is not None or usage["output_tokens"] is not None):
        tokens = ["?" if n is None else n for n in (usage["input_tokens"],
                                                     usage["output_tokens"])]
        line += f"  tokens {tokens[0]} in / {tokens[1]} out"
    if usage and usage["model"]:
        line += f"  model {usage['model']}"
    return line


def expected_event(ev) -> str:
    line = f"{ev['ts']}  event {ev['event']}"
    if ev["host"]:
        line += " " + ev["host"]
    line += f" (pid {ev['pid']}, {os.path.basename(ev['exe'])})"
    if ev["detail"]:
        line += ": " + ev["detail"]
    return line


def test_show(respan_cli, traffic, tmp_path):
    env, keys, log = traffic
    records = read_log(log)
    pairs = exchanges(records)
    assert len(pairs) == 8
    done = respan(respan_cli, ["log", "show", log], log_env(env), check=True)
    assert done.stderr == b""
    text = done.stdout.decode()
    blocks, events = parse_show(text)
    assert len(blocks) == len(pairs)
    # Blocks come in the order of the requests, whenever their responses came.
    for block, (req, resp) in zip(blocks, pairs):
        assert block[0] == expected_head(req)
        arrow = f"  {req['method']} {req['url']} -> {req['routed_url']}"
        assert block[1] == arrow
        if resp is None:
            assert block[2:] == ["  no response"]
            continue
        assert block[2] == expected_status(resp)
        if resp["error"]:
            assert block[3:] == [f"  error: {resp['error']}"]
        else:
            assert len(block) == 3, block
    # The program's key rode in the query: the log and show have [REDACTED].
    gemini = [req for req, _ in pairs if req["provider"] == "gemini"]
    assert gemini and "key=[REDACTED]" in gemini[0]["url"]
    # The killed stream, the 429 and the program that left mid-stream are there.
    assert sum(1 for b in blocks if b[2:] == ["  no response"]) == 1
    assert any(b[2].startswith("  status 429") for b in blocks)
    assert sum(1 for b in blocks if b[-1].startswith("  error: ")) == 1
    evs = [r for r in records if r["type"] == "event"]
    assert {e["event"] for e in evs} >= {"not_routed", "bypass"}
    assert events == [expected_event(e) for e in evs]
    check_no_secrets_in(done.stdout, tmp_path, *keys.all(env))


def body_text(block: list, title: str) -> str:
    """The indented text under the line of block that starts with title."""
    i = next(i for i, ln in enumerate(block) if ln.startswith(title))
    out = []
    for ln in block[i + 1:]:
        if not ln.startswith("    "):
            break
        out.append(ln[4:])
    return "\n".join(out)


def test_show_verbose(respan_cli, traffic, tmp_path):
    env, keys, log = traffic
    pairs = exchanges(read_log(log))
    done = respan(respan_cli, ["log", "show", "-v", log], log_env(env), check=True)
    blocks, _ = parse_show(done.stdout.decode())
    assert len(blocks) == len(pairs)
    for block, (req, resp) in zip(blocks, pairs):
        # Headers as logged, credentials [REDACTED] there already.
        want = [f"    {n}: {v}" for n, v in req["headers"]]
        i = block.index("  request headers:")
        assert block[i + 1:i + 1 + len(want)] == want
        if "body" in req:
            assert (f"  request body ({req['body_bytes']} bytes):" in block)
            assert body_text(block, "  request body") == req["body"].rstrip("\n")
        else:
            assert f"    ({req['body_bytes']} bytes binary)" in block
        if resp is None:
            assert "  response headers:" not in block
            continue
        want = [f"    {n}: {v}" for n, v in resp["headers"]]
        i = block.index("  response headers:")
        assert block[i + 1:i + 1 + len(want)] == want
        if resp["sse"]:
            title = f"  response body: an event stream of {resp['body_bytes']} bytes"
            assert body_text(block, title) == (resp["output_text"] or
                                               "(no text in the stream)")
            # The raw events are not shown, only their merged text.
            assert not any("data:" in ln or "content_block_delta" in ln for ln in block)
        elif resp["body_bytes"]:
            assert f"  response body ({resp['body_bytes']} bytes):" in block
            assert body_text(block, "  response body") == resp["body"].rstrip("\n")
    merged = [b for b, (_, resp) in zip(blocks, pairs) if resp and resp["sse"]
              and resp["error"] is None]
    assert len(merged) == 2
    for b in merged:
        assert body_text(b, "  response body: an event stream") == ASSISTANT_TEXT
    assert any("Authorization: [REDACTED]" in ln for b in blocks for ln in b)
    assert any("x-api-key: [REDACTED]" in ln for b in blocks for ln in b)
    check_no_secrets_in(done.stdout, tmp_path, *keys.all(env))


def test_show_reads_stdin_and_the_configured_log(respan_cli, traffic, tmp_path):
    env, _, log = traffic
    want = respan(respan_cli, ["log", "show", log], log_env(env), check=True).stdout
    got = run([respan_cli, "log", "show", "-"], env=log_env(env), input=log.read_bytes(),
              check=True)
    assert got.stdout == want
    # No FILE: RESPAN_LOG, as the library itself would use.
    got = respan(respan_cli, ["log", "show"], log_env(env), check=True)
    assert got.stdout == want
    # ... else the config file's "log".
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"log": str(log)}))
    bare = {k: v for k, v in log_env(env).items() if k != "RESPAN_LOG"}
    got = respan(respan_cli, ["log", "show"], dict(bare, RESPAN_CONFIG=str(cfg)), check=True)
    assert got.stdout == want
    # ... else $XDG_STATE_HOME/respan/traffic.jsonl.
    state = tmp_path / "state"
    (state / "respan").mkdir(parents=True)
    shutil.copy(log, state / "respan" / "traffic.jsonl")
    got = respan(respan_cli, ["log", "show"], dict(bare, XDG_STATE_HOME=str(state)),
                 check=True)
    assert got.stdout == want


def test_corrupt_and_truncated_lines(respan_cli, traffic, tmp_path):
    env, keys, log = traffic
    lines = log.read_bytes().split(b"\n")[:-1]
    assert len(lines) > 6
    # Line 4 is garbage, line 6 half a record (a torn write), and the file
    # ends in the middle of a record without its newline.
    broken = (lines[:3] + [b"this is not JSON {"] + lines[3:4] + [lines[4][:40]]
              + lines[4:] + [lines[5][: len(lines[5]) // 2]])
    bad = tmp_path / "broken.jsonl"
    bad.write_bytes(b"\n".join(broken))
    clean = respan(respan_cli, ["log", "show", log], log_env(env), check=True).stdout
    for cmd in ("show", "summary", "har"):
        done = respan(respan_cli, ["log", cmd, bad], log_env(env))
        assert done.returncode == 0, done.stderr
        assert done.stderr.decode().splitlines() == [
            f"respan: {bad}:4: not a JSON record, skipped",
            f"respan: {bad}:6: not a JSON record, skipped",
            f"respan: {bad}:{len(broken)}: incomplete last line, skipped",
        ]
    done = respan(respan_cli, ["log", "show", bad], log_env(env), check=True)
    assert done.stdout == clean     # every record of the original is still shown


def test_huge_bodies(respan_cli, respan_env, router, tmp_path):
    """A 3 MB request body made of characters JSON escapes twice (quotes,
    backslashes, control characters, non-ASCII), kept whole in a 4 MB line."""
    respan_env["RESPAN_LOG_BODY_MAX"] = str(8 << 20)
    keys = Keys()
    client(respan_env, keys, "big", '"\\\n\t\u00e9x', "200000")
    log = Path(respan_env["RESPAN_LOG"])
    [(req, resp)] = exchanges(read_log(log))
    assert req["body_bytes"] > 2_500_000 and not req["body_truncated"]
    assert max(len(line) for line in log.read_bytes().split(b"\n")) > 4_000_000
    env = log_env(respan_env)
    done = respan(respan_cli, ["log", "show", "-v", log], env, check=True)
    assert done.stderr == b""
    [block], _ = parse_show(done.stdout.decode())
    assert body_text(block, "  request body") == req["body"]
    har = json.loads(respan(respan_cli, ["log", "har", log], env, check=True).stdout)
    assert har["log"]["entries"][0]["request"]["postData"]["text"] == req["body"]
    summary = respan(respan_cli, ["log", "summary", log], env, check=True).stdout.decode()
    assert re.search(r"^openai +gpt-4o-mini +1 +0 +11 +7 +1 ", summary, re.M), summary
    assert_no_secrets(log, *keys.all(respan_env))


MAXRSS = r"""
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out:
    rc = subprocess.run(sys.argv[2:], stdout=out).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_memory_is_bounded(respan_cli, traffic, tmp_path):
    """A request whose response never comes, then 200 MB of exchanges:
    what waits behind it is let out before it grows past the budget
    (64 MiB), and the blocks stay whole."""
    env, _, log = traffic
    records = read_log(log)
    req, resp = next((q, r) for q, r in exchanges(records) if r and "body" in q
                     and r["status"] == 200 and not r["sse"])
    big = tmp_path / "big.jsonl"
    n, size = 500, 200_000
    with open(big, "w") as f:
        f.write(json.dumps(dict(req, id="1-0")) + "\n")     # never answered
        for i in range(1, n + 1):
            f.write(json.dumps(dict(req, id=f"1-{i}", body="q" * size)) + "\n")
            f.write(json.dumps(dict(resp, id=f"1-{i}", body="r" * size)) + "\n")
    assert big.stat().st_size > 2 * n * size
    for cmd in (["show", "-v"], ["har"], ["summary"]):
        out = tmp_path / "out"
        done = run([PYTHON, "-c", MAXRSS, out, respan_cli, "log", *cmd, big],
                   env=log_env(env), check=True, timeout=120)
        rc, kib = map(int, done.stdout.split())
        assert rc == 0 and kib < 130_000, (cmd, kib)
        if cmd == ["show", "-v"]:
            blocks, _ = parse_show(out.read_text())
            assert len(blocks) == n + 1
            assert sorted(b[0].rsplit("[", 1)[1] for b in blocks) == \
                sorted(f"1-{i}]" for i in range(n + 1))
            assert sum(1 for b in blocks if "  no response" in b) == 1
            assert all(len(body_text(b, "  response body")) == size
                       for b in blocks if "  no response" not in b)
    out.unlink()


# --------------------------------------------------------------------------
# respan log show -f


class Follower:
    """respan log show -f, its output collected by a thread."""

    def __init__(self, cli, log, env, *args):
        self.proc = subprocess.Popen([str(cli), "log", "show", "-f", str(log), *args], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out, self.err = bytearray(), bytearray()
        self.threads = [threading.Thread(target=self._pump, args=(s, b), daemon=True)
                        for s, b in ((self.proc.stdout, self.out),
                                     (self.proc.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _pump(stream, into):
        for chunk in iter(lambda: stream.read1(65536), b""):
            into += chunk

    def wait_for(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.out:
            assert self.proc.poll() is None, f"respan exited: {bytes(self.err)!r}"
            assert time.monotonic() < deadline, \
                f"{text!r} not shown; output:\n{self.out.decode()[-3000:]}\n{bytes(self.err)!r}"
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for t in self.threads:
                t.join(5)
        return rc


def test_follow(respan_cli, respan_env, router, tmp_path):
    keys = Keys()
    log = Path(respan_env["RESPAN_LOG"])
    client(respan_env, keys, "one", "before following")
    [(first, _)] = exchanges(read_log(log))
    follower = Follower(respan_cli, log, log_env(respan_env))
    try:
        follower.wait_for(f"[{first['id']}]")
        # A second program's calls, appended while respan follows.
        client(respan_env, keys, "one", "while following")
        second = exchanges(read_log(log))[1]
        follower.wait_for(f"[{second[0]['id']}]")
        follower.wait_for(expected_status(second[1]))

        # An exchange whose response record comes in two writes: nothing is
        # shown (and nothing is skipped) until the line is whole.
        other = dict(respan_env, RESPAN_LOG=str(tmp_path / "other.jsonl"))
        client(other, keys, "one", "written in two parts")
        (req, resp), = exchanges(read_log(other["RESPAN_LOG"]))
        data = Path(other["RESPAN_LOG"]).read_bytes()
        with open(log, "ab") as f:
            f.write(data[:len(data) - 100])
            f.flush()
            time.sleep(1.0)
            assert f"[{req['id']}]".encode() not in follower.out
            f.write(data[len(data) - 100:])
        follower.wait_for(f"[{req['id']}]")
        follower.wait_for(expected_status(resp))

        # Truncated (as by `: > log`): read from the start.
        with open(log, "r+b") as f:
            f.truncate(0)
        time.sleep(0.5)
        client(respan_env, keys, "one", "after truncation")
        (req, _), = exchanges(read_log(log))
        follower.wait_for(f"[{req['id']}]")

        # Rotated (renamed, the library then makes a new file).
        log.rename(log.with_suffix(".1"))
        client(respan_env, keys, "one", "after rotation")
        (req, resp), = exchanges(read_log(log))
        follower.wait_for(f"[{req['id']}]")
        follower.wait_for(expected_status(resp))
    finally:
        rc = follower.stop()
    assert rc == 0, bytes(follower.err)
    err = follower.err.decode()
    assert f"respan: {log}: truncated; reading it from the start" in err
    assert f"respan: {log}: replaced; reading it from the start" in err
    assert "skipped" not in err
    blocks, _ = parse_show(follower.out.decode())
    assert len(blocks) == 5
    assert all(b[2].startswith("  status 200") for b in blocks)
    check_no_secrets_in(bytes(follower.out), tmp_path, *keys.all(respan_env))


# --------------------------------------------------------------------------
# respan log har


HAR_TYPES = {
    "log": {"version": str, "creator": dict, "entries": list},
    "creator": {"name": str, "version": str},
    "entry": {"startedDateTime": str, "time": (int, float), "request": dict,
              "response": dict, "cache": dict, "timings": dict},
    "request": {"method": str, "url": str, "httpVersion": str, "cookies": list,
                "headers": list, "queryString": list, "headersSize": int, "bodySize": int},
    "response": {"status": int, "statusText": str, "httpVersion": str, "cookies": list,
                 "headers": list, "content": dict, "redirectURL": str, "headersSize": int,
                 "bodySize": int},
    "content": {"size": int, "mimeType": str},
    "timings": {"send": (int, float), "wait": (int, float), "receive": (int, float)},
    "postData": {"mimeType": str, "text": str},
}
HAR_OPTIONAL = {
    "log": {"browser", "pages", "comment"},
    "entry": {"pageref", "serverIPAddress", "connection", "comment"},
    "request": {"postData", "comment"},
    "response": {"comment"},
    "content": {"compression", "text", "encoding", "comment"},
    "timings": {"blocked", "dns", "connect", "ssl", "comment"},
    "postData": {"params", "comment"},
}


def check_object(obj, kind: str) -> None:
    """obj has HAR 1.2's required fields for kind with their types, and
    nothing else but optional fields and custom ones (leading _)."""
    assert isinstance(obj, dict), (kind, obj)
    for name, typ in HAR_TYPES[kind].items():
        assert name in obj, f"{kind}.{name} missing"
        assert isinstance(obj[name], typ) and not isinstance(obj[name], bool), (kind, name)
    extra = set(obj) - set(HAR_TYPES[kind]) - HAR_OPTIONAL.get(kind, set())
    assert all(k.startswith("_") for k in extra), (kind, extra)


def check_har(har) -> None:
    assert set(har) == {"log"}
    check_object(har["log"], "log")
    assert har["log"]["version"] == "1.2"
    check_object(har["log"]["creator"], "creator")
    for e in har["log"]["entries"]:
        check_object(e, "entry")
        for part in ("request", "response"):
            check_object(e[part], part)
            for h in e[part]["headers"]:
                assert set(h) == {"name", "value"} and all(isinstance(v, str)
                                                           for v in h.values())
        for q in e["request"]["queryString"]:
            assert set(q) == {"name", "value"}
        if "postData" in e["request"]:
            check_object(e["request"]["postData"], "postData")
        check_object(e["response"]["content"], "content")
        check_object(e["timings"], "timings")
        t = e["timings"]
        assert min(t["send"], t["wait"], t["receive"]) >= 0
        assert all(t.get(k, -1) >= -1 for k in ("blocked", "dns", "connect", "ssl"))
        assert e["time"] == sum(v for k, v in t.items() if k != "comment" and v >= 0)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["startedDateTime"])
        assert urlsplit(e["request"]["url"]).scheme == "https"


def validate_with_har_validator(path: Path) -> None:
    """Debian's node-har-validator (the HAR 1.2 JSON schema with ajv), when
    installed."""
    if not (HAR_VALIDATOR.exists() and Path(NODE).exists()):
        return
    script = ("const v = require(process.argv[1]);"
              "const h = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));"
              "v.har(h).then(() => console.log('valid'),"
              " e => { console.log(JSON.stringify(e.errors)); process.exit(1); });")
    done = run([NODE, "-e", script, HAR_VALIDATOR, path],
               env={"PATH": "/usr/bin:/bin", "NODE_PATH": "/usr/share/nodejs"})
    assert done.returncode == 0 and done.stdout == b"valid\n", done.stdout + done.stderr


def test_har(respan_cli, traffic, tmp_path):
    env, keys, log = traffic
    records = read_log(log)
    pairs = exchanges(records)
    done = respan(respan_cli, ["log", "har", log], log_env(env), check=True)
    assert done.stderr == b""
    har = json.loads(done.stdout)
    check_har(har)
    out = tmp_path / "traffic.har"
    out.write_bytes(done.stdout)
    validate_with_har_validator(out)
    version = respan(respan_cli, ["--version"], log_env(env), check=True).stdout.split()[1]
    assert har["log"]["creator"] == {"name": "respan", "version": version.decode()}

    entries = har["log"]["entries"]
    assert len(entries) == len(pairs)
    for e, (req, resp) in zip(entries, pairs):
        assert e["_id"] == req["id"]
        assert e["startedDateTime"] == req["ts"]
        r = e["request"]
        assert (r["method"], r["url"]) == (req["method"], req["url"])
        assert e["_routed_url"] == req["routed_url"]
        assert (e["_provider"], e["_pid"], e["_exe"]) == (req["provider"], req["pid"],
                                                           req["exe"])
        assert [[h["name"], h["value"]] for h in r["headers"]] == req["headers"]
        assert [[q["name"], q["value"]] for q in r["queryString"]] == \
            [list(p) for p in parse_qsl(urlsplit(req["url"]).query, keep_blank_values=True)]
        assert r["bodySize"] == req["body_bytes"]
        if "body" in req:
            assert r["postData"]["text"] == req["body"]
        else:
            assert r["postData"]["text"] == ""
            assert r["postData"]["_base64"] == req["body_base64"]
        s = e["response"]
        if resp is None:
            assert s["status"] == 0 and s["headers"] == [] and e["time"] == 0
            assert e["_error"] == "no response in the log"
            continue
        assert s["status"] == resp["status"]
        assert [[h["name"], h["value"]] for h in s["headers"]] == resp["headers"]
        assert s["content"]["size"] == resp["body_bytes"]
        assert s["content"].get("text") == resp.get("body")
        assert e["time"] == resp["duration_ms"]
        wait = resp["ttfb_ms"] if resp["ttfb_ms"] is not None else resp["duration_ms"]
        assert (e["timings"]["wait"], e["timings"]["receive"]) == \
            (wait, resp["duration_ms"] - wait)
        assert e["_usage"] == resp["usage"]
        assert e["_output_text"] == resp["output_text"]
        assert e["_error"] == resp["error"]
    [first] = [e["request"] for e in entries if "?x=1" in e["request"]["url"]]
    assert first["queryString"] == [{"name": "x", "value": "1"},
                                    {"name": "y", "value": "a b c"}]
    assert har["log"]["_events"] == [r for r in records if r["type"] == "event"]
    check_no_secrets_in(done.stdout, tmp_path, *keys.all(env))


def test_har_checks_are_not_vacuous(respan_cli, traffic, tmp_path):
    """The schema checks above reject a HAR with a required field missing."""
    env, _, log = traffic
    har = json.loads(respan(respan_cli, ["log", "har", log], log_env(env), check=True).stdout)
    del har["log"]["entries"][0]["response"]["cookies"]
    with pytest.raises(AssertionError):
        check_har(har)
    if HAR_VALIDATOR.exists() and Path(NODE).exists():
        bad = tmp_path / "bad.har"
        bad.write_text(json.dumps(har))
        with pytest.raises(AssertionError):
            validate_with_har_validator(bad)


# --------------------------------------------------------------------------
# respan log summary


def nearest_rank(values: list, pct: int):
    values = sorted(values)
    return values[max(1, math.ceil(len(values) * pct / 100)) - 1]


def request_model(req) -> str:
    try:
        model = json.loads(req.get("body", "")).get("model")
    except ValueError:
        model = None
    if not model:
        m = re.search(r"/models/([^:?/#]+)", req["url"])
        model = m.group(1) if m else None
    return model or "-"


def expected_summary(records) -> tuple:
    groups = defaultdict(lambda: {"n": 0, "errors": 0, "in": 0, "out": 0, "lat": []})
    total = {"n": 0, "errors": 0, "in": 0, "out": 0, "lat": []}
    for req, resp in exchanges(records):
        usage = (resp or {}).get("usage") or {}
        model = usage.get("model") or request_model(req)
        error = (resp is None or not 100 <= resp["status"] < 400 or resp["error"] is not None)
        for g in (groups[(req["provider"] or "-", model)], total):
            g["n"] += 1
            g["errors"] += error
            g["in"] += usage.get("input_tokens") or 0
            g["out"] += usage.get("output_tokens") or 0
            if resp is not None:
                g["lat"].append(resp["duration_ms"])
    rows = []
    for (provider, model), g in sorted(groups.items()) + [(("total", "all"), total)]:
        lat = g["lat"]
        stats = ([str(len(lat)), str(nearest_rank(lat, 50)), str(nearest_rank(lat, 95)),
                  str(max(lat))] if lat else ["0", "-", "-", "-"])
        rows.append([provider, model, str(g["n"]), str(g["errors"]), str(g["in"]),
                     str(g["out"])] + stats)
    events = Counter(r["event"] for r in records if r["type"] == "event")
    return rows, events


def test_summary(respan_cli, traffic, tmp_path):
    env, keys, log = traffic
    records = read_log(log)
    # More exchanges, so that the median and the 95th percentile differ from max.
    more = tmp_path / "more.jsonl"
    shutil.copy(log, more)
    extra_env = dict(env, RESPAN_LOG=str(more))
    for i in range(4):
        client(extra_env, keys, "one", f"more {i}")
    records = read_log(more)
    rows, events = expected_summary(records)
    done = respan(respan_cli, ["log", "summary", more], log_env(env), check=True)
    assert done.stderr == b""
    lines = done.stdout.decode().split("\n")
    assert lines[0].split() == ["provider", "model", "exchanges", "errors", "in_tokens",
                                "out_tokens", "timed", "median_ms", "p95_ms", "max_ms"]
    got = [ln.split() for ln in lines[1:lines.index("")]]
    assert got == rows
    # Aligned: every row as wide as the header, numbers right-aligned.
    assert len({len(ln) for ln in lines[:lines.index("")]}) == 1
    want_events = "events: " + ", ".join(f"{k} {v}" for k, v in events.items())
    assert lines[lines.index("") + 1] == want_events
    stamps = sorted(r["ts"] for r in records)
    assert lines[lines.index("") + 2] == f"from {stamps[0]} to {stamps[-1]}"
    totals = got[-1]
    assert totals[:2] == ["total", "all"] and int(totals[2]) == 12 and int(totals[3]) >= 3
    check_no_secrets_in(done.stdout, tmp_path, *keys.all(env))


# --------------------------------------------------------------------------
# The command line


def test_help_and_usage(respan_cli, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    for args in (["log", "--help"], ["log", "-h"]):
        done = respan(respan_cli, args, env)
        assert done.returncode == 0
        for cmd in (b"show", b"har", b"summary"):
            assert b"respan log " + cmd in done.stdout
    for cmd in ("show", "har", "summary"):
        done = respan(respan_cli, ["log", cmd, "--help"], env)
        assert done.returncode == 0 and f"usage: respan log {cmd}".encode() in done.stdout
    done = respan(respan_cli, ["--help"], env)
    assert b"respan log" in done.stdout
    for args, message in [
        (["log"], b"usage: respan log show"),
        (["log", "tail"], b"respan log: 'tail' is not a log command"),
        (["log", "show", "-x"], b"respan log show: unknown option -x"),
        (["log", "har", "-f"], b"respan log har: unknown option -f"),
        (["log", "summary", "-v"], b"respan log summary: unknown option -v"),
        (["log", "show", "a", "b"], b"respan log show: one FILE at most"),
    ]:
        done = respan(respan_cli, args, env)
        assert done.returncode == 2, args
        assert message in done.stderr, (args, done.stderr)
        assert done.stdout == b""


def test_missing_file(respan_cli, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    missing = tmp_path / "nope.jsonl"
    for cmd in ("show", "har", "summary"):
        done = respan(respan_cli, ["log", cmd, missing], env)
        assert done.returncode == 1
        assert done.stderr == f"respan: {missing}: No such file or directory\n".encode()
    default = tmp_path / ".local" / "state" / "respan" / "traffic.jsonl"
    done = respan(respan_cli, ["log", "show", "-f"], env)
    assert (done.returncode, done.stderr) == \
        (1, f"respan: {default}: No such file or directory\n".encode())
    done = respan(respan_cli, ["log", "summary"], dict(env, RESPAN_LOG="off"))
    assert done.returncode == 1 and b"the log is off" in done.stderr


def test_empty_log(respan_cli, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert respan(respan_cli, ["log", "show", empty], env, check=True).stdout == b""
    har = json.loads(respan(respan_cli, ["log", "har", empty], env, check=True).stdout)
    check_har(har)
    assert har["log"]["entries"] == [] and har["log"]["_events"] == []
    out = respan(respan_cli, ["log", "summary", empty], env, check=True).stdout.decode()
    assert out.split("\n")[1].split() == ["total", "all", "0", "0", "0", "0", "0", "-", "-", "-"]
    assert "events: none" in out


# --------------------------------------------------------------------------
# respan log summary --format json|markdown


def md_unescape(cell: str) -> str:
    """The text a Markdown cell written by respan stands for: backslash
    escapes, then the three entities it writes."""
    return html.unescape(re.sub(r"\\(.)", r"\1", cell))


def md_row(line: str) -> list:
    """The cells of a GFM table row, split on the | that are not escaped."""
    assert line.startswith("| ") and line.endswith(" |"), line
    cells, cur, i, inner = [], "", 0, line[1:-1]
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            cur += inner[i:i + 2]
            i += 2
            continue
        if inner[i] == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += inner[i]
        i += 1
    cells.append(cur)
    return [c.strip() for c in cells]


def md_tables(text: str) -> list:
    """Each table of a Markdown text: (header cells, separator cells, rows)."""
    tables, lines = [], text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(md_row(lines[i]))
                i += 1
            tables.append((block[0], block[1], block[2:]))
        i += 1
    return tables


def rendered_cells(text: str) -> list:
    """Markdown rendered by markdown-it (CommonMark with GFM tables and
    strikethrough), when installed: [[cell text, ...] per row of every table],
    and the HTML. None when markdown-it is not installed."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return None
    out = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)
    rows = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
            for tr in re.findall(r"<tr>(.*?)</tr>", out, re.S)]
    return rows, out


def summary_of(cli, log, env, fmt=None) -> subprocess.CompletedProcess:
    return respan(cli, ["log", "summary", log] + (["--format", fmt] if fmt else []), env,
                  check=True)


def text_summary(out: str) -> tuple:
    """(rows, events line, from-to line) of the text format."""
    lines = out.split("\n")
    blank = lines.index("")
    return [ln.split() for ln in lines[1:blank]], lines[blank + 1], \
        (lines[blank + 2] if len(lines) > blank + 2 else "")


def test_summary_formats(respan_cli, traffic, tmp_path):
    """json and markdown say what text says: the same rows, totals, events
    and times."""
    env, keys, log = traffic
    records = read_log(log)
    want_rows, want_events = expected_summary(records)
    text = summary_of(respan_cli, log, log_env(env)).stdout.decode()
    assert summary_of(respan_cli, log, log_env(env), "text").stdout.decode() == text
    rows, events_line, span = text_summary(text)
    assert rows == want_rows

    # JSON: one document, the columns of the text table as keys.
    done = summary_of(respan_cli, log, log_env(env), "json")
    assert done.stderr == b""
    doc = json.loads(done.stdout)
    assert set(doc) == {"groups", "total", "events", "from", "to"}
    columns = ["exchanges", "errors", "in_tokens", "out_tokens", "timed", "median_ms",
               "p95_ms", "max_ms"]
    as_text = lambda v: "-" if v is None else str(v)  # noqa: E731
    got = [[as_text(g["provider"]), as_text(g["model"])] + [as_text(g[c]) for c in columns]
           for g in doc["groups"]]
    got.append(["total", "all"] + [as_text(doc["total"][c]) for c in columns])
    assert got == rows
    assert all(isinstance(doc["total"][c], int) for c in columns)
    assert set(doc["total"]) == set(columns)
    assert doc["events"] == dict(want_events)
    assert list(doc["events"]) == list(want_events)   # in the order first seen
    stamps = sorted(r["ts"] for r in records)
    assert (doc["from"], doc["to"]) == (stamps[0], stamps[-1])
    assert span == f"from {doc['from']} to {doc['to']}"

    # Markdown: a heading, the table, the events table, the times.
    done = summary_of(respan_cli, log, log_env(env), "markdown")
    assert done.stderr == b""
    md = done.stdout.decode()
    assert md.startswith("### respan log summary\n\n| provider | model |")
    [(head, sep, body), (ev_head, ev_sep, ev_body)] = md_tables(md)
    assert head == ["provider", "model", "exchanges", "errors", "in_tokens", "out_tokens",
                    "timed", "median_ms", "p95_ms", "max_ms"]
    assert sep == ["---", "---"] + ["---:"] * 8      # numbers right-aligned
    assert len(body) == len(rows) - 1 + 1             # one row per group, then the total
    assert [[md_unescape(c) for c in r] for r in body[:-1]] == rows[:-1]
    assert body[-1] == ["**total**", "**all**"] + rows[-1][2:]
    assert ev_head == ["event", "count"] and ev_sep == ["---", "---:"]
    assert [[md_unescape(c) for c in r] for r in ev_body] == \
        [[k, str(v)] for k, v in want_events.items()]
    assert md.rstrip("\n").split("\n")[-1] == f"From {stamps[0]} to {stamps[-1]}."
    rendered = rendered_cells(md)
    if rendered is not None:
        cells, out = rendered
        assert out.count("<table>") == 2
        assert cells[0] == head and len(cells) == 1 + len(rows) + 1 + len(want_events)
        assert [[html.unescape(c) for c in r] for r in cells[1:len(rows)]] == rows[:-1]
    check_no_secrets_in(done.stdout, tmp_path, *keys.all(env))


def crafted_exchange(n: int, provider, model, status=200, duration=10, error=None,
                     ts="2026-11-25T08:00:00.000Z", **req_fields) -> list:
    """A request and its response record, as the library writes them."""
    req = {"type": "request", "id": f"1-{n}", "ts": ts, "pid": 1, "ppid": 0,
           "exe": "/usr/bin/prog", "layer": "openssl", "provider": provider, "routed": True,
           "method": "POST", "url": "https://api.openai.com/v1/chat/completions",
           "routed_url": "https://localhost:1/api/chat/completions", "headers": [],
           "body": "", "body_bytes": 0, "body_truncated": False}
    req.update(req_fields)
    resp = {"type": "response", "id": f"1-{n}", "ts": ts, "pid": 1, "status": status,
            "headers": [], "body": "", "body_bytes": 0, "body_truncated": False,
            "sse": False, "ttfb_ms": 1, "duration_ms": duration,
            "usage": {"model": model, "input_tokens": 3, "output_tokens": 4},
            "output_text": None, "error": error}
    return [req, resp]


HOSTILE = ["op|en <script>alert(1)</script>",
           "m`x` *em* _u_ [link](https://e.example/) ![i](u) ~~del~~ $x$ \\ &amp; &#60; | end",
           "two\nlines\r\tand \x1b[31m\u0085"]


def test_summary_formats_keep_log_text_in_its_place(respan_cli, tmp_path):
    """Names from the log cannot add a cell, a row, HTML, a link, emphasis
    or code to the Markdown, nor break the JSON (bytes that are not UTF-8
    included)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    records = (crafted_exchange(1, HOSTILE[0], HOSTILE[1])
               + crafted_exchange(2, "openai", HOSTILE[2], status=500)
               + [{"type": "event", "ts": "2026-11-25T08:00:01.000Z", "pid": 1,
                   "exe": "/x", "event": "<b>|`ev`|</b>", "host": None, "detail": None}])
    log = tmp_path / "hostile.jsonl"
    data = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
    # A model name with a byte that is not UTF-8.
    data += json.dumps(crafted_exchange(3, "gemini", "bad-XX")[0]).encode() + b"\n"
    data += json.dumps(crafted_exchange(3, "gemini", "bad-XX")[1]).encode() \
        .replace(b"bad-XX", b"bad-\xff\xfe") + b"\n"
    log.write_bytes(data)

    doc = json.loads(summary_of(respan_cli, log, env, "json").stdout.decode("utf-8"))
    assert [(g["provider"], g["model"]) for g in doc["groups"]] == sorted(
        [("gemini", "bad-\ufffd\ufffd"), ("openai", HOSTILE[2]), (HOSTILE[0], HOSTILE[1])])
    assert doc["total"]["exchanges"] == 3 and doc["total"]["errors"] == 1
    assert doc["events"] == {"<b>|`ev`|</b>": 1}

    md = summary_of(respan_cli, log, env, "markdown").stdout.decode("utf-8")
    assert "<" not in md and "\x1b" not in md and "\u0085" not in md
    [(head, _, body), (_, _, ev_body)] = md_tables(md)
    assert len(body) == 4 and all(len(r) == len(head) == 10 for r in body)
    as_cell = lambda s: re.sub(r"[\n\r\t]", " ", s).replace("\x1b", "\\x1b") \
        .replace("\u0085", "\\u0085").strip()  # noqa: E731
    assert [md_unescape(c) for c in body[2][:2]] == ["op|en <script>alert(1)</script>",
                                                     as_cell(HOSTILE[1])]
    assert md_unescape(body[1][1]) == as_cell(HOSTILE[2])
    assert [md_unescape(c) for c in ev_body[0]] == ["<b>|`ev`|</b>", "1"]
    rendered = rendered_cells(md)
    if rendered is not None:
        cells, out = rendered
        for tag in ("<script", "<a ", "<img", "<code", "<em", "<del", "<b>", "<s>"):
            assert tag not in out, tag
        assert out.count("<strong>") == 2             # the total row's two, only
        assert all(len(r) == 10 for r in cells[:5]) and len(cells) == 5 + 2
        assert html.unescape(cells[3][0]) == HOSTILE[0]
        assert html.unescape(cells[3][1]) == as_cell(HOSTILE[1])
        assert html.unescape(cells[6][0]) == "<b>|`ev`|</b>"


def test_summary_format_usage(respan_cli, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    doc = json.loads(summary_of(respan_cli, empty, env, "json").stdout)
    assert doc["groups"] == [] and doc["events"] == {} and doc["from"] is None
    assert doc["total"]["exchanges"] == 0 and doc["total"]["median_ms"] is None
    md = summary_of(respan_cli, empty, env, "markdown").stdout.decode()
    [(_, _, body)] = md_tables(md)
    assert body == [["**total**", "**all**", "0", "0", "0", "0", "0", "-", "-", "-"]]
    assert "No events." in md
    for args, message in [
        (["--format", "yaml"], b"respan log summary: --format yaml: expected text, json "
                               b"or markdown"),
        (["--format"], b"respan log summary: --format needs a value"),
    ]:
        done = respan(respan_cli, ["log", "summary", empty] + args, env)
        assert (done.returncode, done.stdout) == (2, b""), args
        assert message in done.stderr
    done = respan(respan_cli, ["log", "show", "--format", "json", empty], env)
    assert done.returncode == 2 and b"unknown option --format" in done.stderr


# --------------------------------------------------------------------------
# respan log show: filters


def ts_ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def status_matches(resp, spec: str) -> bool:
    for item in spec.split(","):
        if item == "error":
            if resp is None or not 100 <= resp["status"] < 400 or resp["error"] is not None:
                return True
        elif resp is None:
            continue
        elif item.endswith("xx"):
            if resp["status"] // 100 == int(item[0]):
                return True
        elif resp["status"] == int(item):
            return True
    return False


def expected_show(records, provider=None, pid=None, status=None, since=None, id=None):
    """(block ids, event lines) that show with these filters prints."""
    ids = []
    for req, resp in exchanges(records):
        if provider is not None and (req["provider"] or "-") != provider:
            continue
        if pid is not None and req["pid"] != pid:
            continue
        if status is not None and not status_matches(resp, status):
            continue
        if since is not None and ts_ms(req["ts"]) < since:
            continue
        if id is not None and req["id"] != id:
            continue
        ids.append(req["id"])
    events = []
    if provider is None and status is None and id is None:
        events = [expected_event(e) for e in records if e["type"] == "event"
                  and (pid is None or e["pid"] == pid)
                  and (since is None or ts_ms(e["ts"]) >= since)]
    return ids, events


def shown(cli, log, env, *args) -> tuple:
    done = respan(cli, ["log", "show", log, *args], env, check=True)
    assert done.stderr == b""
    blocks, events = parse_show(done.stdout.decode())
    return [b[0].rsplit("[", 1)[1].rstrip("]") for b in blocks], events, blocks


def test_show_filters(respan_cli, traffic):
    env, _, log = traffic
    env = log_env(env)
    records = read_log(log)
    requests = [r for r in records if r["type"] == "request"]
    evs = [r for r in records if r["type"] == "event"]
    busiest = Counter(r["pid"] for r in requests).most_common(1)[0][0]
    third = sorted(r["ts"] for r in requests)[2]
    later = datetime.fromisoformat(third.replace("Z", "+00:00")).astimezone(
        timezone(timedelta(hours=1), "CET"))
    as_cet = later.isoformat(timespec="milliseconds")        # ...+01:00
    cases = [
        (["--provider", "anthropic"], dict(provider="anthropic")),
        (["--provider", "openai"], dict(provider="openai")),
        (["--provider", "gemini"], dict(provider="gemini")),
        (["--provider", "vertexai"], dict(provider="vertexai")),
        (["--pid", str(busiest)], dict(pid=busiest)),
        (["--pid", str(evs[0]["pid"])], dict(pid=evs[0]["pid"])),     # its events
        (["--status", "200"], dict(status="200")),
        (["--status", "429"], dict(status="429")),
        (["--status", "4xx"], dict(status="4xx")),
        (["--status", "2xx"], dict(status="2xx")),
        (["--status", "error"], dict(status="error")),
        (["--status", "404,error"], dict(status="404,error")),
        (["--since", third], dict(since=ts_ms(third))),
        (["--since", as_cet], dict(since=ts_ms(third))),
        (["--since", "1h"], dict(since=0)),                # all of it is recent
        (["--since", "2999-01-01"], dict(since=ts_ms("2999-01-01T00:00:00Z"))),
        (["--id", requests[1]["id"]], dict(id=requests[1]["id"])),
        (["--id", "no-such-id"], dict(id="no-such-id")),
        # Combined: AND.
        (["--provider", "openai", "--status", "4xx"], dict(provider="openai", status="4xx")),
        (["--pid", str(busiest), "--since", third], dict(pid=busiest, since=ts_ms(third))),
        (["--provider", "anthropic", "--status", "error", "--pid", str(busiest)],
         dict(provider="anthropic", status="error", pid=busiest)),
        (["--id", requests[1]["id"], "--provider", "gemini"],
         dict(id=requests[1]["id"], provider="gemini")),
    ]
    seen_nonempty = set()
    for args, kw in cases:
        ids, events, _ = shown(respan_cli, log, env, *args)
        assert (ids, events) == expected_show(records, **kw), args
        if ids or events:
            seen_nonempty.add(args[0])
    # The cases are not vacuous: each filter selected something somewhere...
    assert seen_nonempty == {"--provider", "--pid", "--status", "--since", "--id"}
    # ... and left something out.
    everything = shown(respan_cli, log, env)[:2]
    assert shown(respan_cli, log, env, "--status", "4xx")[0] != everything[0]
    assert shown(respan_cli, log, env, "--status", "error")[0] == \
        [q["id"] for q, r in exchanges(records)
         if r is None or not 100 <= r["status"] < 400 or r["error"]]


def test_show_filters_verbose(respan_cli, traffic, tmp_path):
    env, keys, log = traffic
    env = log_env(env)
    pairs = exchanges(read_log(log))
    req, resp = next((q, r) for q, r in pairs if r and r["status"] == 429)
    ids, events, [block] = shown(respan_cli, log, env, "-v", "--id", req["id"])
    assert ids == [req["id"]] and events == []
    i = block.index("  request headers:")
    assert block[i + 1:i + 1 + len(req["headers"])] == \
        [f"    {n}: {v}" for n, v in req["headers"]]
    assert "  response headers:" in block
    assert body_text(block, "  response body") == resp["body"].rstrip("\n")
    # The same blocks with or without -v, only longer.
    plain = shown(respan_cli, log, env, "--status", "error")
    verbose = shown(respan_cli, log, env, "--status", "error", "-v")
    assert plain[0] == verbose[0] and plain[1] == verbose[1] == []
    assert all(v[:len(p)] == p for p, v in zip(plain[2], verbose[2]))
    assert all(any(ln == "  request headers:" for ln in v) for v in verbose[2])
    out = respan(respan_cli, ["log", "show", "-v", "--status", "error", log], env,
                 check=True).stdout
    check_no_secrets_in(out, tmp_path, *keys.all(traffic[0]))


def test_show_filter_usage(respan_cli, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    for args, message in [
        (["--pid", "abc"], b"--pid abc: expected a process id"),
        (["--pid", "0"], b"--pid 0: expected a process id"),
        (["--status", "6xx"], b"--status 6xx: expected a status"),
        (["--status", "ok"], b"--status ok: expected a status"),
        (["--since", "yesterday"], b"--since yesterday: expected an RFC 3339 time"),
        (["--since", "2026-02-30"], b"--since 2026-02-30: expected an RFC 3339 time"),
        (["--since", "10"], b"--since 10: expected"),
        (["--provider", ""], b"--provider : expected a provider id"),
        (["--id"], b"--id needs a value"),
        (["--bogus"], b"unknown option --bogus"),
    ]:
        done = respan(respan_cli, ["log", "show", empty, *args], env)
        assert (done.returncode, done.stdout) == (2, b""), args
        assert b"respan log show: " + message in done.stderr, (args, done.stderr)
    for cmd in ("har", "summary", "curl"):
        done = respan(respan_cli, ["log", cmd, "--provider", "openai", "x", empty], env)
        assert done.returncode == 2 and b"unknown option --provider" in done.stderr


def test_follow_with_filters(respan_cli, respan_env, router, tmp_path):
    """-f shows what passes the filters as it comes, -v included."""
    keys = Keys()
    log = Path(respan_env["RESPAN_LOG"])
    client(respan_env, keys, "one", "before")
    follower = Follower(respan_cli, log, log_env(respan_env), "--provider", "anthropic",
                        "-v")
    try:
        client(respan_env, keys, "mixed")
        anthropic = [q for q, _ in exchanges(read_log(log)) if q["provider"] == "anthropic"]
        assert len(anthropic) == 1
        follower.wait_for(f"[{anthropic[0]['id']}]")
        follower.wait_for("  response body: an event stream")
    finally:
        rc = follower.stop()
    assert rc == 0, bytes(follower.err)
    blocks, events = parse_show(follower.out.decode())
    assert [b[0].rsplit("[", 1)[1] for b in blocks] == [f"{anthropic[0]['id']}]"]
    assert events == []
    assert "  request headers:" in blocks[0]
    check_no_secrets_in(bytes(follower.out), tmp_path, *keys.all(respan_env))


# --------------------------------------------------------------------------
# respan log curl

# Calls made through the library, each from its own spec: host, method,
# target, headers ([name, value], in order) and body (base64, or None).
CURL_CLIENT = r"""
import base64, http.client, json, ssl, sys
for call in json.load(open(sys.argv[1])):
    c = http.client.HTTPSConnection(call["host"], context=ssl.create_default_context())
    body = base64.b64decode(call["body"]) if call["body"] is not None else None
    c.putrequest(call["method"], call["target"], skip_accept_encoding=True)
    for name, value in call["headers"]:
        c.putheader(name, value)
    if body is not None:
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    print(r.status, len(r.read()), flush=True)
"""

# Both shapes of quote, shell syntax and text that is not ASCII, in a body.
TRICKY_TEXT = ("it's a 'quoted' \"test\": caf\u00e9 \u2615 \u00fc\u00df \u2014 "
               "$HOME `id` $(id) \\ end")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def curl_calls(keys) -> list:
    chat = json.dumps({"model": "gpt-4o-mini",
                       "messages": [{"role": "user", "content": TRICKY_TEXT}]},
                      ensure_ascii=False).encode()
    oai = ["Authorization", "Bearer " + keys.openai]
    return [
        {"host": "api.openai.com", "method": "POST", "target": "/v1/chat/completions",
         "headers": [oai, ["Content-Type", "application/json"], ["X-Empty", ""],
                     ["User-Agent", "tester/1.0 (it's)"], ["Accept", "application/json"]],
         "body": b64(chat)},
        {"host": "generativelanguage.googleapis.com", "method": "POST",
         "target": "/v1beta/models/gemini-2.0-flash:generateContent?alt=json&key=" + keys.gemini,
         "headers": [["Content-Type", "application/json"]],
         "body": b64(json.dumps({"contents": [{"role": "user",
                                               "parts": [{"text": TRICKY_TEXT}]}]}).encode())},
        {"host": "api.anthropic.com", "method": "POST", "target": "/v1/messages",
         "headers": [["x-api-key", keys.anthropic], ["anthropic-version", "2023-06-01"],
                     ["content-type", "application/json"]],
         "body": b64(json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 16,
                                 "messages": [{"role": "user", "content": "hi"}]}).encode())},
        # Not text: logged as body_base64 (the stand-in answers 400).
        {"host": "api.openai.com", "method": "POST", "target": "/v1/chat/completions",
         "headers": [oai, ["Content-Type", "application/octet-stream"]],
         "body": b64(b"\x00\x01'\xff\xfe binary\n" * 20)},
        {"host": "api.openai.com", "method": "GET", "target": "/v1/models",
         "headers": [oai], "body": None},
    ]


# What the replay may differ in: curl writes Host and Content-Length itself.
CURL_WRITES = {"host", "content-length"}
# Fields of the stand-in's answers that change from one request to the next.
PER_REQUEST = {"id", "created", "responseId", "createTime"}


def curl_env(env, pki) -> dict:
    """Where the printed command runs: the Respan key, the test CA for curl
    (CURL_CA_BUNDLE: curl's own variable; the command has no --cacert), no
    preload."""
    return {"PATH": "/usr/bin:/bin", "HOME": env["HOME"], "LANG": "C.UTF-8",
            "RESPAN_API_KEY": env["RESPAN_API_KEY"], "CURL_CA_BUNDLE": pki["ca"]}


def curl_command(cli, rid, log, env) -> str:
    done = respan(cli, ["log", "curl", rid, log], log_env(env))
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def same_answer(got: bytes, logged: str) -> None:
    """The body curl printed is the recorded one, up to the stand-in's ids
    and times."""
    try:
        a, b = json.loads(got), json.loads(logged)
    except ValueError:
        assert got.decode() == logged
        return
    if isinstance(a, dict) and isinstance(b, dict):
        a = {k: v for k, v in a.items() if k not in PER_REQUEST}
        b = {k: v for k, v in b.items() if k not in PER_REQUEST}
    assert a == b


def replay(router, command: str, env: dict, shell: str = "bash"):
    """Run command with shell -c (from a file when it is too long to be one
    argument: 128 KiB on Linux); (curl's stdout, the request the router got)."""
    before = len(router.requests())
    if len(command) < 100_000:
        argv = [f"/bin/{shell}", "-c", command]
    else:
        script = Path(env["HOME"]) / f"command-{time.monotonic_ns()}.sh"
        script.write_text(command)
        argv = [f"/bin/{shell}", script]
    done = run(argv, env=env, timeout=30)
    assert done.returncode == 0, (shell, done.stderr.decode(errors="replace"))
    received = router.requests()
    assert len(received) == before + 1
    return done.stdout, received[-1]


def test_curl_reproduces_the_request(respan_cli, respan_env, router, pki, tmp_path):
    keys = Keys()
    spec = tmp_path / "calls.json"
    spec.write_text(json.dumps(curl_calls(keys)))
    script = tmp_path / "curl_client.py"
    script.write_text(CURL_CLIENT)
    run([PYTHON, script, spec], env=respan_env, check=True)
    log = Path(respan_env["RESPAN_LOG"])
    pairs = exchanges(read_log(log))
    originals = router.requests()
    assert len(pairs) == len(originals) == 5
    assert [r["status"] for _, r in pairs] == [200, 200, 200, 400, 200]
    [binary] = [q for q, _ in pairs if "body_base64" in q]
    secrets = keys.all(respan_env)
    env = curl_env(respan_env, pki)

    for (req, resp), original in zip(pairs, originals):
        command = curl_command(respan_cli, req["id"], log, respan_env)
        check_no_secrets_in(command.encode(), tmp_path, *secrets)
        assert command.startswith("curl --http1.1 ") or (
            req is binary and command.startswith("printf '%s' "))
        for shell in ("bash", "sh"):
            out, got = replay(router, command, env, shell)
            assert (got.method, got.path, got.body) == \
                (original.method, original.path, original.body), (shell, command)
            # Every header the library sent, in its order, the Respan key
            # where the credential was; nothing added.
            mine = [[n, v] for n, v in got.headers if n.lower() not in CURL_WRITES]
            theirs = [[n, v] for n, v in original.headers if n.lower() not in CURL_WRITES]
            assert mine == theirs, (shell, command)
            same_answer(out, resp["body"])
    chat, gemini, anthropic = pairs[0][0], pairs[1][0], pairs[2][0]
    key = respan_env["RESPAN_API_KEY"]
    assert originals[0].header("authorization") == f"Bearer {key}"
    assert "-H \"Authorization: Bearer $RESPAN_API_KEY\"" in \
        curl_command(respan_cli, chat["id"], log, respan_env)
    assert "-H \"x-api-key: $RESPAN_API_KEY\"" in \
        curl_command(respan_cli, anthropic["id"], log, respan_env)
    assert originals[1].query["key"] == [key]
    assert "&key='\"$RESPAN_API_KEY\"" in curl_command(respan_cli, gemini["id"], log,
                                                         respan_env)
    # The tricky text went as it is, in a body and in a header.
    assert originals[0].json()["messages"][0]["content"] == TRICKY_TEXT
    assert "caf\u00e9 \u2615".encode() in originals[0].body     # as UTF-8, not \u escapes
    assert originals[0].header("user-agent") == "tester/1.0 (it's)"
    assert originals[0].header("x-empty") == ""
    # Hop-by-hop headers are curl's: Accept-Encoding is left out.
    assert all(n.lower() != "accept-encoding" for n, _ in router.requests()[-1].headers)


def test_curl_run_without_the_ca_fails(respan_cli, respan_env, router, pki, tmp_path):
    """The test above trusts the CA through CURL_CA_BUNDLE alone: without
    it curl refuses the router's certificate (nothing in the command turns
    verification off); SSL_CERT_FILE does as well."""
    keys = Keys()
    client(respan_env, keys, "one", "check the CA")
    log = Path(respan_env["RESPAN_LOG"])
    [(req, resp)] = exchanges(read_log(log))
    command = curl_command(respan_cli, req["id"], log, respan_env)
    assert "-k" not in command.split() and "--insecure" not in command
    env = curl_env(respan_env, pki)
    bare = {k: v for k, v in env.items() if k != "CURL_CA_BUNDLE"}
    done = run(["/bin/bash", "-c", command], env=bare)
    assert done.returncode == 60, done.stderr          # CURLE_PEER_FAILED_VERIFICATION
    out, got = replay(router, command, dict(bare, SSL_CERT_FILE=pki["ca"]))
    same_answer(out, resp["body"])
    assert got.header("authorization") == "Bearer " + respan_env["RESPAN_API_KEY"]


def write_log(path: Path, records: list) -> Path:
    path.write_bytes(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n"
                              for r in records))
    return path


def test_curl_keeps_the_log_from_the_command_line(respan_cli, router, pki, tmp_path):
    """Requests a program could send but a naive command would get wrong,
    from a crafted log pointed at the stand-in: a body curl would read as a
    file name (@...), one with terminal escapes, one too long for an
    argument, a url curl would take for a pattern, a method other than
    POST; each one must reach the router byte for byte."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    key = make_secret()
    run_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
               "RESPAN_API_KEY": key, "CURL_CA_BUNDLE": pki["ca"]}
    base = router.url_for("localhost")
    auth = ["Authorization", "[REDACTED]"]
    cases = {
        "at": dict(body="@/etc/passwd", body_bytes=12),
        "escapes": dict(body="a\x1b[31mred\rb\x01\u0085c", body_bytes=14),
        "long": dict(body="x'y\u00e9" * 40000, body_bytes=5 * 40000),
        "pattern": dict(routed_url=base + "chat/completions?q=[1]{2}&key=[REDACTED]",
                        body="{}", body_bytes=2),
        "put": dict(method="PUT", body="{\"a\": 1}", body_bytes=8),
        "delete": dict(method="DELETE", body="", body_bytes=0, headers=[auth]),
        "cookie": dict(body="{}", body_bytes=2,
                       headers=[auth, ["Cookie", "[REDACTED]"],
                                ["Proxy-Authorization", "[REDACTED]"],
                                ["Content-Type", "application/json"]]),
    }
    records = []
    for n, (name, fields) in enumerate(cases.items(), 1):
        req = crafted_exchange(n, "openai", "m")[0]
        req.update({"routed_url": base + "chat/completions",
                    "headers": [auth, ["Content-Length", str(fields.get("body_bytes", 0))]]})
        req.update(fields)
        records.append(req)
    log = write_log(tmp_path / "crafted.jsonl", records)
    for n, (name, fields) in enumerate(cases.items(), 1):
        done = respan(respan_cli, ["log", "curl", f"1-{n}", log], env)
        assert done.returncode == 0, (name, done.stderr)
        command = done.stdout.decode()
        check_terminal_safe = all(c in "\n\t" or " " <= c != "\x7f" and
                                  not "\x80" <= c <= "\x9f" for c in command)
        assert check_terminal_safe, (name, command)
        _, got = replay(router, command, run_env)
        want = records[n - 1]
        assert got.method == want.get("method", "POST"), name
        assert got.body == want["body"].encode(), name
        assert got.path == urlsplit(want["routed_url"]).path + (
            "?" + urlsplit(want["routed_url"]).query.replace("[REDACTED]", key)
            if urlsplit(want["routed_url"]).query else "")
        assert got.header("authorization") == f"Bearer {key}"
        if name == "escapes":
            assert "| base64 -d | curl " in command
        if name == "at":
            assert "printf '%s' '@/etc/passwd' | curl " in command
        if name == "long":
            assert command.startswith("printf '%s' 'x'\\''y") and "--data-binary @-" in command
        if name == "pattern":
            assert " --globoff " in command
        if name == "delete":
            assert " -X 'DELETE' " in command and "--data-binary" not in command
        if name == "cookie":
            assert got.header("cookie") is None and got.header("proxy-authorization") is None
            assert done.stderr.decode().splitlines() == [
                "respan: 1-7: note: its Cookie header is left out: the log keeps no value "
                "for it",
                "respan: 1-7: note: its Proxy-Authorization header is left out: the log "
                "keeps no value for it"]
        else:
            assert done.stderr == b"", name


def test_curl_refusals(respan_cli, respan_env, router, tmp_path):
    """A body the log cut, an unknown id, a request no command line can
    carry: status 1, a reason, nothing on stdout. A request that was not
    routed, or an id used twice: a note."""
    keys = Keys()
    env = dict(respan_env, RESPAN_LOG_BODY_MAX="16")
    client(env, keys, "one", "a body longer than sixteen bytes")
    log = Path(respan_env["RESPAN_LOG"])
    [(req, _)] = exchanges(read_log(log))
    assert req["body_truncated"]
    done = respan(respan_cli, ["log", "curl", req["id"], log], log_env(env))
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.decode() == (
        f"respan: {req['id']}: the request body was cut in the log "
        f"({req['body_bytes']} bytes sent, 16 kept): the command would not send the same "
        "request (respan run --record keeps whole bodies)\n")

    lenv = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    good = crafted_exchange(1, "openai", "m", headers=[["Content-Type", "application/json"]])
    unrouted = crafted_exchange(2, None, "m", routed=False, routed_url=None,
                                url="https://api.example.com/v1/x")[0]
    bad_name = crafted_exchange(3, "openai", "m", headers=[["Bad Header", "x"]])[0]
    bad_value = crafted_exchange(4, "openai", "m", headers=[["X", "a\rb"]])[0]
    bad_url = crafted_exchange(5, "openai", "m", routed_url="file:///etc/passwd")[0]
    bad_method = crafted_exchange(6, "openai", "m", method="GET /x")[0]
    log = write_log(tmp_path / "crafted.jsonl",
                    good + [unrouted, bad_name, bad_value, bad_url, bad_method, good[0],
                            crafted_exchange(9, "openai", "m")[1]])
    for rid, message in [
        ("nope", f"respan: nope: no exchange with this id in {log}"),
        ("1-9", f"respan: 1-9: its request is not in {log}"),
        ("1-3", "respan: 1-3: a request header is not one a command line can carry"),
        ("1-4", "respan: 1-4: a request header is not one a command line can carry"),
        ("1-5", "respan: 1-5: the request has no http(s) url a command line can carry"),
        ("1-6", "respan: 1-6: the request has no method a command line can carry"),
    ]:
        done = respan(respan_cli, ["log", "curl", rid, log], lenv)
        assert (done.returncode, done.stdout, done.stderr.decode()) == (1, b"", message + "\n")
    # Not routed: its own url (and a POST without a body, so -X).
    done = respan(respan_cli, ["log", "curl", "1-2", log], lenv, check=True)
    assert done.stdout.decode() == ("curl --http1.1 -X 'POST' 'https://api.example.com/v1/x'"
                                    " \\\n  -H 'User-Agent:' \\\n  -H 'Accept:'\n")
    assert done.stderr == b"respan: 1-2: note: this request was not routed: the command " \
                          b"sends it to its own url, with $RESPAN_API_KEY as its credential\n"
    done = respan(respan_cli, ["log", "curl", "1-1", log], lenv, check=True)
    assert done.stderr == b"respan: 1-1: 2 requests have this id (a process id was used " \
                          b"again): the first is shown\n"
    for args, message in [
        ([], b"respan log curl: which exchange?"),
        (["1-1", "a", "b"], b"respan log curl: one FILE at most"),
        (["-v", "1-1"], b"respan log curl: unknown option -v"),
    ]:
        done = respan(respan_cli, ["log", "curl", *args], lenv)
        assert (done.returncode, done.stdout) == (2, b""), args
        assert message in done.stderr
    done = respan(respan_cli, ["log", "curl", "--help"], lenv)
    assert done.returncode == 0 and b"usage: respan log curl ID [FILE]" in done.stdout
