"""Fixtures for the Node end-to-end tests (test_node_sdks.py, test_claude_code.py,
test_gemini_cli.py).

    node_sdks      session: the OpenAI, Anthropic and Google Gen AI SDKs
                   installed from node/package.json, with the client scripts
                   (node/*.mjs) beside them: NodeSdks(dir, node, versions)
    claude_code    session: Claude Code installed from
                   node/claude-code/package.json: ClaudeCode(bin, version)
    gemini_cli     session: the Gemini CLI installed from
                   node/gemini-cli/package.json: GeminiCli(bin, script, version)
    codex_cli      session: OpenAI's Codex CLI installed from
                   node/codex/package.json: CodexCli(bin, native, version)
                   (test_codex_cli.py)

Import them into a test module (`from node_fixtures import node_sdks`).
This is a plain module, not a conftest: pytest loads only conftest.py by
itself, and only the Node tests need these.

Installation. Each package.json is installed once with npm into
tests/e2e/.cache/node/<name>-<key>/ (gitignored), where KEY is a hash of
the package.json and package-lock.json. `npm ci` when there is a lock file,
`npm install --no-audit --no-fund` otherwise. npm runs with an explicit,
clean environment: PATH=/usr/bin:/bin, HOME and npm_config_cache inside
.cache/node, no audit/fund/update notices, and
npm_config_omit_lockfile_registry_resolved=true; of the caller's variables
only npm_config_registry and the proxy variables (HTTPS_PROXY, ...) are
passed on, so that a machine that reaches the registry through them still
can. An install is made in a temporary directory and renamed into place, under
a lock, so an interrupted install is never taken for a good one; older
installs of the same name are removed.

When node or npm is missing, or npm cannot reach the registry (DNS,
connection, TLS or HTTP 5xx errors, or a 10 minute timeout), every test that
uses the fixture is SKIPPED with the reason. Any other npm failure (for
instance a lock file out of step with its package.json) FAILS the tests.

Lock files. The package-lock.json files are committed: they were made with
omit-lockfile-registry-resolved, so they hold names, exact versions and
integrity hashes but no download addresses (no registry host), and `npm ci`
fetches from whichever registry npm is configured for. Refresh one with
`npm install --package-lock-only` under the same setting (see
tests/e2e/node/README.md).

Node version. The SDK versions pinned here declare engines node >= 22;
nodesource Node 20 runs them (npm only warns), which is what these tests use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NODE_SRC = HERE / "node"
CACHE = HERE / ".cache" / "node"
BASE_PATH = "/usr/bin:/bin"
NPM_TIMEOUT = 600

# Caller variables that only say how to reach the registry.
PASSED_ON = ("npm_config_registry", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
             "http_proxy", "NO_PROXY", "no_proxy")

# npm output that means "the registry could not be reached", not "broken".
_UNREACHABLE = re.compile(
    r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|"
    r"ENETUNREACH|EHOSTUNREACH|EPROTO|ERR_SOCKET_TIMEOUT|"
    r"UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN|"
    r"DEPTH_ZERO_SELF_SIGNED_CERT|CERT_HAS_EXPIRED|E5\d\d|"
    r"network request to .* failed|request to .* failed, reason)\b")


@dataclass
class NodeSdks:
    """The installed SDKs and the client scripts."""

    dir: Path                 # scripts here, node_modules beside them
    node: str                 # the node binary
    versions: dict = field(default_factory=dict)   # package -> installed version

    def script(self, name: str) -> Path:
        return self.dir / name

    def argv(self, script: str, *args: str) -> list:
        return [self.node, str(self.script(script)), *args]


@dataclass
class ClaudeCode:
    """The installed Claude Code."""

    bin: Path                 # the native executable
    version: str              # the npm package version
    dir: Path                 # the install directory


@dataclass
class GeminiCli:
    """The installed Gemini CLI."""

    bin: Path                 # node_modules/.bin/gemini: the link npm makes, as on PATH
    script: Path              # what it links to: @google/gemini-cli/bundle/gemini.js
    version: str              # the npm package version
    dir: Path                 # the install directory


def _tool(name: str) -> str:
    path = shutil.which(name, path=BASE_PATH)
    if not path:
        pytest.skip(f"{name} not found in {BASE_PATH} (Node is needed for these tests)")
    return path


def npm_env() -> dict:
    """The environment npm runs with: nothing from the caller but registry
    and proxy settings."""
    home = CACHE / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": BASE_PATH,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "npm_config_cache": str(CACHE / "npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_loglevel": "warn",
        "npm_config_omit_lockfile_registry_resolved": "true",
        # An unreachable registry is reported in seconds, not minutes.
        "npm_config_fetch_retries": "1",
        "npm_config_fetch_retry_mintimeout": "2000",
        "npm_config_fetch_retry_maxtimeout": "5000",
        "npm_config_fetch_timeout": "60000",
    }
    for name in PASSED_ON:
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def _key(src: Path) -> str:
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        p = src / name
        h.update(name.encode() + b"\0")
        h.update(p.read_bytes() if p.exists() else b"<none>")
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _locked():
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def npm_install(name: str, src: Path) -> Path:
    """Install SRC/package.json (and its lock file) once into
    .cache/node/NAME-KEY and return that directory. Skips when npm or the
    registry is unreachable; fails on any other npm error."""
    _tool("node")
    npm = _tool("npm")
    key = _key(src)
    dest = CACHE / f"{name}-{key}"
    with _locked():
        if (dest / "node_modules").is_dir():
            return dest
        tmp = CACHE / f".{name}-{key}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copy(src / "package.json", tmp / "package.json")
        lock = src / "package-lock.json"
        if lock.exists():
            shutil.copy(lock, tmp / "package-lock.json")
            argv = [npm, "ci", "--no-audit", "--no-fund"]
        else:
            argv = [npm, "install", "--no-audit", "--no-fund"]
        try:
            proc = subprocess.run(argv, cwd=tmp, env=npm_env(), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired:
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.skip(f"npm registry unreachable: `{' '.join(argv[1:])}` for {name} "
                        f"took more than {NPM_TIMEOUT} s")
        out = (proc.stdout + proc.stderr).decode(errors="replace")
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            errors = [l for l in out.splitlines() if "ERR" in l or "error" in l] or \
                out.splitlines()[-5:]
            reason = " | ".join(l.strip() for l in errors[:6])
            if _UNREACHABLE.search(out):
                pytest.skip(f"npm registry unreachable ({name}): {reason}")
            pytest.fail(f"npm {argv[1]} for {name} failed ({proc.returncode}):\n{out[:4000]}")
        # Older installs of the same package.json name go.
        for old in CACHE.glob(f"{name}-*"):
            if old != dest and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, dest)
    return dest


def _installed_version(root: Path, package: str) -> str:
    return json.loads((root / "node_modules" / package / "package.json").read_text())["version"]


@pytest.fixture(scope="session")
def node_sdks(tmp_path_factory) -> NodeSdks:
    """The Node SDKs of node/package.json, with the client scripts in a
    directory whose node_modules is the cached install."""
    root = npm_install("sdks", NODE_SRC)
    pinned = json.loads((NODE_SRC / "package.json").read_text())["dependencies"]
    versions = {p: _installed_version(root, p) for p in pinned}
    assert versions == pinned, f"installed {versions}, package.json pins {pinned}"
    # ES modules resolve packages from the script's own directory upwards,
    # so the scripts are copied next to a node_modules link (the cache keeps
    # only what npm made; the scripts are always the current ones).
    work = tmp_path_factory.mktemp("node-sdks")
    for script in NODE_SRC.glob("*.mjs"):
        shutil.copy(script, work / script.name)
    shutil.copy(NODE_SRC / "package.json", work / "package.json")
    (work / "node_modules").symlink_to(root / "node_modules", target_is_directory=True)
    return NodeSdks(dir=work, node=_tool("node"), versions=versions)


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _pinned_install(name: str, pkg: str) -> tuple:
    """npm_install of node/NAME, checked to be the version its package.json
    pins for PKG: (root, version)."""
    src = NODE_SRC / name
    root = npm_install(name, src)
    version = _installed_version(root, pkg)
    pinned = json.loads((src / "package.json").read_text())["dependencies"][pkg]
    assert version == pinned, f"installed {pkg} {version}, package.json pins {pinned}"
    return root, version


@pytest.fixture(scope="session")
def claude_code() -> ClaudeCode:
    """Claude Code of node/claude-code/package.json. Its npm package ships
    the program as a per-platform optional dependency
    (@anthropic-ai/claude-code-linux-x64, ...) that a postinstall script copies
    over bin/claude.exe; when that did not run, the platform package's binary
    is used directly."""
    pkg = "@anthropic-ai/claude-code"
    root, version = _pinned_install("claude-code", pkg)
    wrapper = root / "node_modules" / pkg / "bin" / "claude.exe"
    if _is_elf(wrapper):
        return ClaudeCode(bin=wrapper, version=version, dir=root)
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    native = root / "node_modules" / f"{pkg}-linux-{arch}" / "claude"
    if _is_elf(native):
        return ClaudeCode(bin=native, version=version, dir=root)
    pytest.skip(f"Claude Code {version} has no native binary for linux-{arch} "
                f"(neither {wrapper} nor {native} is an executable)")


@pytest.fixture(scope="session")
def gemini_cli() -> GeminiCli:
    """The Gemini CLI of node/gemini-cli/package.json. Its npm package is
    one esbuild bundle (bundle/gemini.js and its chunks) with only optional
    native dependencies (keytar, node-pty), run by the system's node through
    its `#!/usr/bin/env node` line."""
    pkg = "@google/gemini-cli"
    root, version = _pinned_install("gemini-cli", pkg)
    link = root / "node_modules" / ".bin" / "gemini"
    script = root / "node_modules" / pkg / "bundle" / "gemini.js"
    if not script.is_file():
        pytest.fail(f"{pkg} {version} has no {script}")
    if not link.exists():       # npm made no bin link (--no-bin-links)
        link = script
    return GeminiCli(bin=link, script=script, version=version, dir=root)


@dataclass
class CodexCli:
    """The installed Codex CLI: a Node launcher (bin/codex.js) that starts a
    static musl Rust binary from a per-platform package."""

    bin: Path                 # node_modules/.bin/codex: the launcher, as on PATH
    native: Path              # the static binary the launcher starts
    target: str               # its target triple, e.g. x86_64-unknown-linux-musl
    version: str              # the npm package version
    dir: Path                 # the install directory


# The launcher's own table (bin/codex.js): Node's arch -> Rust target triple.
_CODEX_TARGETS = {"x86_64": ("x64", "x86_64-unknown-linux-musl"),
                  "aarch64": ("arm64", "aarch64-unknown-linux-musl")}


def _elf_interpreter(path: Path) -> bool:
    """True when the ELF file PATH has a PT_INTERP program header (is
    dynamically linked); False for a static one."""
    import struct
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:      # ELF64 only
            return True
        end = "<" if head[5] == 1 else ">"
        phoff, = struct.unpack(end + "Q", head[32:40])
        phentsize, phnum = struct.unpack(end + "HH", head[54:58])
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return any(struct.unpack(end + "I", table[i * phentsize:i * phentsize + 4])[0] == 3
               for i in range(phnum))


@pytest.fixture(scope="session")
def codex_cli() -> CodexCli:
    """OpenAI's Codex CLI of node/codex/package.json. @openai/codex is a
    Node launcher; the program is an optional dependency per platform
    (@openai/codex-linux-x64 is an alias of @openai/codex@VERSION-linux-x64)
    whose vendor/<target>/bin/codex is a static musl binary with rustls.
    Node 20's launcher spawns it as a child (newer Node execve()s it in
    place). Skipped, with the reason, where there is no binary for this
    machine or it does not run."""
    pkg = "@openai/codex"
    root, version = _pinned_install("codex", pkg)
    arch, target = _CODEX_TARGETS.get(platform.machine(), (platform.machine(), "?"))
    platform_pkg = root / "node_modules" / f"{pkg}-linux-{arch}"
    native = platform_pkg / "vendor" / target / "bin" / "codex"
    if not _is_elf(native):
        pytest.skip(f"Codex CLI {version} has no binary for linux-{arch} ({native} missing)")
    assert _installed_version(root, f"{pkg}-linux-{arch}") == f"{version}-linux-{arch}"
    assert not _elf_interpreter(native), f"{native} is expected to be static"
    link = root / "node_modules" / ".bin" / "codex"
    if not link.exists():       # npm made no bin link (--no-bin-links)
        link = root / "node_modules" / pkg / "bin" / "codex.js"
    home = CACHE / "home"
    done = subprocess.run([str(native), "--version"], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={"PATH": BASE_PATH, "HOME": str(home),
                                                         "CODEX_HOME": str(home / ".codex")})
    if done.returncode != 0 or done.stdout.decode().split() != ["codex-cli", version]:
        pytest.skip(f"Codex CLI {version} ({native}) does not run here: exit "
                    f"{done.returncode}, {(done.stdout + done.stderr).decode()[-300:]!r}")
    return CodexCli(bin=link, native=native, target=target, version=version, dir=root)
