"""Fixtures for the librespan end-to-end tests.

    pki            session: test CA, router certificate, wrong CA, ... (dict of paths)
    router         the stand-in router on 127.0.0.1 (one per session; its
                   records, errors and override are cleared for each test)
    router6        the same on [::1]; skipped when IPv6 loopback is unavailable
    build_dir      RESPAN_BUILD, else <repo>/build
    librespan      build_dir/librespan.so (skip when missing, but fail when
                   RESPAN_BUILD was set, as `make e2e` does)
    respan_env     a clean environment dict for a client under librespan
                   talking to `router` (see standin.helpers.make_respan_env)
    client_bin     client_bin("ossl_client") -> build_dir/tests/clients/ossl_client

Helpers (importable from standin.helpers, re-exported here): clean_env,
make_respan_env, make_secret, run, read_log, assert_no_secrets,
router_process, ipv6_loopback_available.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from standin.certs import make_pki  # noqa: E402
from standin.helpers import (  # noqa: E402,F401  (re-exported for tests)
    assert_no_secrets, clean_env, ipv6_loopback_available, make_respan_env,
    make_secret, read_log, router_process, run)
from standin.router import Router  # noqa: E402


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> dict:
    """Certificates made at test time (see standin/certs.py for the keys)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def _start_router(pki: dict, tmp_path_factory, host: str) -> Router:
    record = tmp_path_factory.mktemp("router") / "received.jsonl"
    return Router(pki["cert"], pki["key"], host=host, record=str(record)).start()


@pytest.fixture(scope="session")
def _router4(pki, tmp_path_factory):
    r = _start_router(pki, tmp_path_factory, "127.0.0.1")
    yield r
    r.stop()


@pytest.fixture(scope="session")
def _router6(pki, tmp_path_factory):
    if not ipv6_loopback_available():
        pytest.skip("IPv6 loopback ([::1]) is not available here")
    r = _start_router(pki, tmp_path_factory, "::1")
    yield r
    r.stop()


@pytest.fixture
def router(_router4) -> Router:
    """The stand-in router on 127.0.0.1, with nothing recorded yet."""
    _router4.clear()
    return _router4


@pytest.fixture
def router6(_router6) -> Router:
    """The stand-in router on [::1], with nothing recorded yet."""
    _router6.clear()
    return _router6


@pytest.fixture(scope="session")
def build_dir() -> Path:
    return Path(os.environ.get("RESPAN_BUILD") or REPO / "build").resolve()


def _built(path: Path, what: str) -> Path:
    if path.exists():
        return path
    msg = f"{what} not built: {path} is missing (run make)"
    if os.environ.get("RESPAN_BUILD"):
        pytest.fail(msg)  # under `make e2e` a missing artefact is a failure
    pytest.skip(msg)


@pytest.fixture(scope="session")
def librespan(build_dir) -> Path:
    """Path of librespan.so."""
    return _built(build_dir / "librespan.so", "librespan.so")


@pytest.fixture(scope="session")
def respan_cli(build_dir) -> Path:
    """Path of the respan command."""
    return _built(build_dir / "respan", "respan")


@pytest.fixture
def client_bin(build_dir):
    """client_bin(NAME) -> path of a test client built from tests/e2e/clients."""
    def find(name: str) -> Path:
        return _built(build_dir / "tests" / "clients" / name, name)
    return find


@pytest.fixture
def respan_env(tmp_path, router, pki, librespan) -> dict:
    """A fresh environment for one client under librespan, routed to `router`:
    PATH, HOME (tmp), LANG, RESPAN_API_KEY (fake, random), RESPAN_BASE_URL
    (https://localhost:PORT/api/), RESPAN_CA_FILE, RESPAN_LOG
    (tmp_path/traffic.jsonl), LD_PRELOAD. A plain dict: change it freely.

    Under a sanitizer build (RESPAN_SAN_RUNTIME: make sanitize, make tsan)
    every process run with it writes its sanitizer reports to files in
    tmp_path/san-reports, and any report fails the test when it ends: the
    relays the library starts have no stderr, and not every test looks at
    every exit status. ThreadSanitizer stops a process at its first report
    (tsan.supp lists the only races it lets pass: OpenSSL's own)."""
    env = make_respan_env(tmp_path, router, pki, preload=librespan)
    reports = tmp_path / "san-reports"
    if os.environ.get("RESPAN_SAN_RUNTIME"):
        reports.mkdir()
        to_file = f"log_path={reports}/report"
        env["ASAN_OPTIONS"] += ":" + to_file
        env["UBSAN_OPTIONS"] += ":" + to_file
        env["TSAN_OPTIONS"] = (f"halt_on_error=1:exitcode=66:suppressions={HERE}/tsan.supp:"
                               + to_file)
    yield env
    found = sorted(reports.glob("report*")) if reports.exists() else []
    if found:
        pytest.fail("sanitizer reports:\n" + "\n".join(
            f"{p.name}:\n{p.read_text(errors='replace')[-6000:]}" for p in found))
