"""Helpers for end-to-end tests: clean client environments, reading the
librespan traffic log, checking it for secrets, running clients.

Importable from tests as `from standin.helpers import ...` (conftest.py also
re-exports them, and makes the common ones fixtures).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets as _secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Optional

ROUTER_SCRIPT = Path(__file__).resolve().parent / "router.py"

# The only variables a client gets unless a test adds more. Nothing comes
# from the caller's environment: the shell running the tests exports
# SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS and
# perhaps proxies, which would change what a client trusts or where it goes.
BASE_PATH = "/usr/bin:/bin"

# A base URL of the user's own for a provider: layer 1 then leaves that
# provider's variables alone, so the process does not hold the Respan key
# for it, and an unrouted connection to the provider is a plain `bypass`
# under RESPAN_FAIL=open. Where layer 1 did put the key into the provider's
# key variable (the default), such a connection is always refused.
USERS_OWN_BASE_URL = {
    "openai": {"OPENAI_BASE_URL": "https://llm.example.internal/v1"},
    "anthropic": {"ANTHROPIC_BASE_URL": "https://llm.example.internal/anthropic"},
    "gemini": {"GOOGLE_GEMINI_BASE_URL": "https://llm.example.internal/gemini"},
}


def make_secret(prefix: str = "rk-tk-") -> str:
    """A fake credential: PREFIX + 32 random hex digits. Random, so that none
    of its 8-character substrings turns up in a log by accident. Not
    "rk-test-": with digits after it, "test-176" is also in pytest's own
    directory names (/tmp/pytest-of-root/pytest-176/), which every record's
    exe may hold."""
    return prefix + _secrets.token_hex(16)


def clean_env(home, **extra: str) -> dict:
    """A from-scratch environment: PATH, HOME, LANG, plus EXTRA."""
    env = {"PATH": BASE_PATH, "HOME": str(home), "LANG": "C.UTF-8"}
    for k, v in extra.items():
        env[k] = str(v)
    return env


def make_respan_env(tmp_path, router, pki: dict, preload=None, host: str = "localhost",
                    **extra: str) -> dict:
    """The environment for a client under librespan, talking to ROUTER.

    HOME is TMP_PATH/home (created, 0700); RESPAN_API_KEY a fresh fake key;
    RESPAN_BASE_URL the router's base URL with HOST as the host name
    ("localhost", "127.0.0.1", "::1"); RESPAN_CA_FILE the test CA;
    RESPAN_LOG TMP_PATH/traffic.jsonl; LD_PRELOAD the library when PRELOAD is
    given. EXTRA adds or replaces variables.
    """
    tmp_path = Path(tmp_path)
    home = tmp_path / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    env = clean_env(home,
                    RESPAN_API_KEY=make_secret(),
                    RESPAN_BASE_URL=router.url_for(host),
                    RESPAN_CA_FILE=pki["ca"],
                    RESPAN_LOG=tmp_path / "traffic.jsonl")
    if preload is not None:
        env["LD_PRELOAD"] = str(preload)
        runtime = os.environ.get("RESPAN_SAN_RUNTIME")
        if runtime:  # `make sanitize`: an ASan+UBSan librespan.so
            env["LD_PRELOAD"] = f"{runtime} {preload}"
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0:exitcode=86"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=86"
    for k, v in extra.items():
        env[k] = str(v)
    return env


def run(argv: list, env: dict, timeout: float = 30, check: bool = False,
        input: Optional[bytes] = None, cwd=None) -> subprocess.CompletedProcess:
    """Run a client with exactly ENV (never the caller's environment).

    Output is captured (bytes). With CHECK, a non-zero exit fails the test
    with the client's stderr shown.
    """
    if env is None:
        raise ValueError("run(): pass an explicit environment (see clean_env)")
    if (Path(str(argv[0])).name in ("curl", "curl_gnutls_client", "wget", "gnutls_client")
            and os.environ.get("RESPAN_SAN_RUNTIME") and "LD_PRELOAD" in env):
        import pytest
        # glibc's setlocale lock: curl at start-up, libp11-kit (GnuTLS: wget,
        # the GnuTLS clients) in its destructor, whenever the ASan runtime is
        # preloaded.
        pytest.skip(f"{Path(str(argv[0])).name} hangs on glibc's setlocale lock with an "
                    "ASan runtime preloaded (librespan or not)")
    proc = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{argv[0]} exited {proc.returncode}\n"
            f"stderr:\n{proc.stderr.decode(errors='replace')[-4000:]}")
    return proc


def run_with_pid(argv: list, env: dict, cwd=None, timeout: float = 60):
    """Run a program with exactly ENV and return (CompletedProcess, pid): the
    pid is what its log records carry. On a timeout the program is killed and
    the test fails with the end of its output."""
    if env is None:
        raise ValueError("run_with_pid(): pass an explicit environment")
    proc = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{argv[0]} timed out after {timeout} s\nstdout:\n"
                             f"{out.decode(errors='replace')[-2000:]}\nstderr:\n"
                             f"{err.decode(errors='replace')[-3000:]}") from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), proc.pid


# --------------------------------------------------------------------------
# The traffic log


def read_log(path, type: Optional[str] = None) -> list:
    """The records of a librespan JSONL log (docs/contract.md#traffic-log), optionally only
    those of TYPE ("request", "response", "event").

    Strict: every line must be a complete JSON object ending in a newline
    (records are written whole), otherwise the test fails. A missing file
    reads as no records.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    records = []
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"{path}:{n}: not JSON ({e}): {line[:200]!r}") from None
        if not isinstance(obj, dict):
            raise AssertionError(f"{path}:{n}: not an object: {line[:200]!r}")
        records.append(obj)
    if data and not data.endswith(b"\n"):
        raise AssertionError(f"{path}: last record has no newline (partial write?)")
    if type is not None:
        records = [r for r in records if r.get("type") == type]
    return records


def _strings(obj) -> Iterable[str]:
    """Every string (keys included) inside a parsed JSON value."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _base64_payloads(obj) -> Iterable[bytes]:
    """Decoded values of every "...base64" field (bodies stored as base64)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and k.lower().endswith("base64"):
                try:
                    yield base64.b64decode(v, validate=False)
                except (binascii.Error, ValueError):
                    pass
            else:
                yield from _base64_payloads(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _base64_payloads(v)


def assert_no_secrets(path, *secrets: str, window: int = 8) -> None:
    """Fail if any secret, or any WINDOW-character piece of one, is in the log.

    Looks at the raw bytes of the file, at every JSON string after unescaping
    (so "\\u0041"-style escapes cannot hide a key), and inside base64-encoded
    bodies. Secrets shorter than WINDOW are searched whole. Use random-looking
    secrets (make_secret) so that pieces cannot match innocent text.
    """
    path = Path(path)
    raw = path.read_bytes() if path.exists() else b""
    haystacks = [("raw file", raw)]
    for n, line in enumerate(raw.split(b"\n"), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            continue  # the raw search still covers it
        text = "\n".join(_strings(obj)).encode("utf-8", "surrogatepass")
        haystacks.append((f"line {n} (unescaped)", text))
        for blob in _base64_payloads(obj):
            haystacks.append((f"line {n} (base64 body)", blob))
    for secret in secrets:
        if not secret:
            continue
        s = secret.encode()
        pieces = {s} if len(s) <= window else {s[i:i + window]
                                               for i in range(len(s) - window + 1)}
        for where, hay in haystacks:
            for piece in pieces:
                at = hay.find(piece)
                if at >= 0:
                    ctx = hay[max(0, at - 40):at + len(piece) + 40]
                    raise AssertionError(
                        f"{path}: {where}: part of a secret ({piece.decode()!r}"
                        f" of {secret[:4]}...) is in the log: ...{ctx!r}...")


# --------------------------------------------------------------------------
# Loopback facts and the router as a separate process


def ipv6_loopback_available() -> bool:
    """True when a socket can listen on and connect to [::1]."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as srv:
            srv.bind(("::1", 0))
            srv.listen(1)
            with socket.create_connection(srv.getsockname()[:2], timeout=2):
                pass
        return True
    except OSError:
        return False


@contextlib.contextmanager
def router_process(pki: dict, workdir, host: str = "127.0.0.1", extra_args=()):
    """Run router.py as its own process (as scripts do); yields
    (process, port, record_path). Stopped with SIGTERM on exit."""
    workdir = Path(workdir)
    ready = workdir / "router.port"
    record = workdir / "router-received.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(ROUTER_SCRIPT), "--cert", pki["cert"], "--key", pki["key"],
         "--host", host, "--port", "0", "--record", str(record),
         "--ready-file", str(ready), *extra_args],
        env=clean_env(workdir), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not (ready.exists() and ready.read_text().endswith("\n")):
            if proc.poll() is not None:
                raise RuntimeError(f"router.py exited {proc.returncode}: "
                                   f"{proc.stderr.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                raise TimeoutError("router.py did not become ready")
            time.sleep(0.02)
        yield proc, int(ready.read_text()), record
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def relay_processes(env: dict, wait: float = 5.0) -> list:
    """The pids of the relays the library started (`respan relay-serve`) for
    clients run with ENV (their RESPAN_LOG), once WAIT seconds have passed
    or none is left. A relay stops about a second after its last process."""
    def find() -> list:
        found = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")
                if len(argv) < 2 or argv[1] != b"relay-serve":
                    continue
                environ = (d / "environ").read_bytes().split(b"\0")
            except OSError:
                continue                # gone, or not ours to read
            if f"RESPAN_LOG={env['RESPAN_LOG']}".encode() in environ:
                found.append(int(d.name))
        return found
    until = time.monotonic() + wait
    left = find()
    while left and time.monotonic() < until:
        time.sleep(0.1)
        left = find()
    return left


def under_library(how: str, argv: list, env: dict, respan_cli) -> list:
    """ARGV as run under the library: with ENV's LD_PRELOAD as it is, or
    (HOW naming respan run: "respan run", "respan_run") as `respan run --
    ARGV`, which sets LD_PRELOAD itself, so ENV loses it."""
    if how.startswith("respan"):
        env.pop("LD_PRELOAD", None)
        return [respan_cli, "run", "--", *argv]
    return list(argv)


def program_answer(name: str, done: subprocess.CompletedProcess) -> str:
    """stdout of program NAME, stripped; the test fails, showing the ends of
    its output, unless it exited 0."""
    assert done.returncode == 0, (
        f"{name} exited {done.returncode}\nstdout:\n"
        f"{done.stdout.decode(errors='replace')[-2000:]}\nstderr:\n"
        f"{done.stderr.decode(errors='replace')[-3000:]}")
    return done.stdout.decode(errors="replace").strip()


def request_credentials(req, header_names) -> list:
    """The credentials a recorded request carried: (header, value) for each
    header in HEADER_NAMES (lower case), and ("key=", value) for key= in the
    query."""
    found = [(n.lower(), v) for n, v in req.headers if n.lower() in header_names]
    return found + [("key=", v) for v in req.query.get("key", [])]
