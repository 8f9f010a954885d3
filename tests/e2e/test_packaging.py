"""Installing librespan (issue 13): `make install` and `make uninstall`, and
the Debian package `make deb` builds: lintian finds no error in it, it
installs with `apt-get install ./librespan_*.deb` and with `dpkg -i`, the
installed respan and library route a real call, and `dpkg -r` leaves
nothing of it behind.

The package tests install into this machine (root only; skipped with the
reason otherwise, or when a librespan package is installed already, which
they must not replace). The package is made from the tree that
`make install DESTDIR=... PREFIX=/usr` stages out of RESPAN_BUILD, so the
binaries tested are the ones the other tests tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from standin.helpers import clean_env, make_secret, read_log, run

PATH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def _make(build_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """make in the repository with the OUT the build came from (a
    sanitizer build is not packaged)."""
    if build_dir.name.startswith("san-"):
        pytest.skip("a sanitizer build is not installed or packaged")
    done = subprocess.run(["make", "-C", str(REPO), "--no-print-directory",
                           f"OUT={build_dir}", *args], capture_output=True,
                          env=dict(PATH_ENV, HOME=os.environ.get("HOME", "/root")), timeout=600)
    assert done.returncode == 0, done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:]
    return done


def _files(root: Path) -> list:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def test_make_install_and_uninstall(build_dir, tmp_path):
    """Everything install puts under DESTDIR/PREFIX, uninstall takes away."""
    root = tmp_path / "root"
    _make(build_dir, "install", f"DESTDIR={root}", "PREFIX=/usr/local")
    files = _files(root)
    for want in ("usr/local/bin/respan", "usr/local/lib/respan/librespan.so",
                 "usr/local/share/man/man1/respan.1.gz",
                 "usr/local/share/man/man7/librespan.7.gz",
                 "usr/local/share/doc/librespan/README.md",
                 "usr/local/share/doc/librespan/security.md"):
        assert want in files, files
    # The installed respan finds the installed library (../lib/respan).
    env = clean_env(tmp_path, RESPAN_MODE="off")
    done = run([root / "usr/local/bin/respan", "run", "--", "/bin/sh", "-c",
                'printf "%s" "$LD_PRELOAD"'], env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == str(root / "usr/local/lib/respan/librespan.so")
    _make(build_dir, "uninstall", f"DESTDIR={root}", "PREFIX=/usr/local")
    assert _files(root) == []


@pytest.fixture(scope="module")
def deb(build_dir, tmp_path_factory) -> Path:
    """librespan_VERSION_ARCH.deb, made by scripts/make-deb from the staged tree."""
    if not shutil.which("dpkg-deb"):
        pytest.skip("no dpkg-deb")
    work = tmp_path_factory.mktemp("deb")
    _make(build_dir, "install", f"DESTDIR={work / 'root'}", "PREFIX=/usr")
    done = subprocess.run([str(REPO / "scripts" / "make-deb"), str(work / "root"), str(work)],
                          capture_output=True, env=PATH_ENV, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    [path] = work.glob("librespan_*.deb")
    assert done.stdout.decode().strip() == str(path)
    return path


def test_lintian_finds_no_error(deb):
    if not shutil.which("lintian"):
        pytest.skip("lintian is not installed (scripts/install-deps installs it)")
    done = subprocess.run(["lintian", "--fail-on", "error", str(deb)], capture_output=True,
                          env=PATH_ENV, timeout=300)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert b"E: " not in done.stdout, done.stdout


def test_package_contents(deb):
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                             check=True).stdout.decode()
    for want in ("./usr/bin/respan", "./usr/lib/respan/librespan.so",
                 "./usr/share/man/man1/respan.1.gz", "./usr/share/man/man7/librespan.7.gz",
                 "./usr/share/doc/librespan/copyright", "./usr/share/doc/librespan/replay.md"):
        assert want in listing, listing
    fields = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True,
                            check=True).stdout.decode()
    assert "Package: librespan" in fields and "libc6" in fields and "libssl3" in fields, fields


@pytest.fixture
def installable():
    """Root, and no librespan package here that a test would replace."""
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root")
    if subprocess.run(["dpkg", "-s", "librespan"], capture_output=True).returncode == 0:
        pytest.skip("a librespan package is installed already: not replacing it")
    yield
    subprocess.run(["dpkg", "--purge", "librespan"], capture_output=True, env=PATH_ENV)


def _installed_files() -> list:
    out = subprocess.run(["dpkg", "-L", "librespan"], capture_output=True, check=True,
                         env=PATH_ENV).stdout.decode().split()
    return [p for p in out if Path(p).is_file()]


def _routed_call(respan_env, router, tmp_path, argv) -> None:
    key = make_secret("sk-proj-")
    done = run(argv + ["curl", "-sS", "https://api.openai.com/v1/chat/completions",
                       "-H", "Authorization: Bearer " + key, "-d", '{"model": "m"}'],
               env=respan_env)
    assert done.returncode == 0 and b"Hello from the stand-in router" in done.stdout, \
        done.stdout + done.stderr
    [req] = router.requests()
    assert req.header("authorization") == "Bearer " + respan_env["RESPAN_API_KEY"]
    router.clear()


@pytest.mark.parametrize("how", ["apt-get install", "dpkg -i"])
def test_install_run_remove(how, deb, installable, respan_env, router, tmp_path):
    """Installed, the package's respan and library route a call (respan
    run, and LD_PRELOAD of the installed library); removed, nothing of it
    is left."""
    argv = (["apt-get", "install", "-y", "-q", "--no-install-recommends", str(deb)]
            if how == "apt-get install" else ["dpkg", "-i", str(deb)])
    done = subprocess.run(argv, capture_output=True, env=dict(PATH_ENV,
                          DEBIAN_FRONTEND="noninteractive"), timeout=300)
    assert done.returncode == 0, done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:]
    files = _installed_files()
    assert "/usr/bin/respan" in files and "/usr/lib/respan/librespan.so" in files

    version = run(["/usr/bin/respan", "--version"], env=clean_env(tmp_path))
    assert version.returncode == 0 and version.stdout.startswith(b"respan "), version.stderr
    man = subprocess.run(["man", "-w", "respan"], capture_output=True, env=PATH_ENV)
    assert man.stdout.decode().strip() == "/usr/share/man/man1/respan.1.gz" or \
        not shutil.which("man"), man

    preload = dict(respan_env, LD_PRELOAD="/usr/lib/respan/librespan.so")
    _routed_call(preload, router, tmp_path, [])
    under_run = {k: v for k, v in respan_env.items() if k != "LD_PRELOAD"}
    _routed_call(under_run, router, tmp_path, ["/usr/bin/respan", "run", "--"])
    assert read_log(respan_env["RESPAN_LOG"], type="request")

    removed = subprocess.run(["dpkg", "-r", "librespan"], capture_output=True, env=PATH_ENV)
    assert removed.returncode == 0, removed.stderr
    assert [f for f in files if Path(f).exists()] == []
    assert not Path("/usr/lib/respan").exists()
    assert not Path("/usr/share/doc/librespan").exists()
