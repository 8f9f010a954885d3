"""The local interception CA (`respan ca`, cli/ca/ca.c; docs/relay.md).

Made on first need in $XDG_STATE_HOME/respan/ca (0700, key 0600), with
critical Name Constraints permitting the provider hosts only and excluding
every IP address: a certificate its key signs for any other name fails
verification, in OpenSSL's own check (the openssl command here), whatever
the certificate says."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from standin.helpers import clean_env, run


@pytest.fixture
def ca_env(tmp_path) -> dict:
    env = clean_env(tmp_path / "home", XDG_STATE_HOME=str(tmp_path / "state"))
    (tmp_path / "home").mkdir()
    return env


def respan_ca(respan_cli, env, what: str) -> str:
    done = run([respan_cli, "ca", what], env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def openssl(*argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *argv], cwd=cwd, capture_output=True,
                          env={"PATH": "/usr/bin:/bin"})


def leaf(ca_dir: Path, tmp_path: Path, name: str, san: str) -> str:
    """A certificate for SAN signed with the CA's own key, and what openssl
    verify says of it against the CA."""
    d = tmp_path / name
    d.mkdir()
    assert openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", "leaf.key", "-subj", f"/CN={name}",
                   "-addext", f"subjectAltName={san}", "-out", "leaf.csr",
                   cwd=d).returncode == 0
    done = openssl("x509", "-req", "-in", "leaf.csr", "-CA", str(ca_dir / "ca.pem"),
                   "-CAkey", str(ca_dir / "ca.key"), "-copy_extensions", "copy",
                   "-days", "1", "-out", "leaf.pem", cwd=d)
    assert done.returncode == 0, done.stderr
    out = openssl("verify", "-CAfile", str(ca_dir / "ca.pem"), "leaf.pem", cwd=d)
    return (out.stdout + out.stderr).decode()


def test_made_on_first_need_private(respan_cli, ca_env, tmp_path):
    path = Path(respan_ca(respan_cli, ca_env, "path").strip())
    ca_dir = tmp_path / "state" / "respan" / "ca"
    assert path == ca_dir / "ca.pem"
    assert ca_dir.stat().st_mode & 0o777 == 0o700
    assert (ca_dir / "ca.key").stat().st_mode & 0o777 == 0o600
    text = openssl("x509", "-in", str(path), "-noout", "-text", cwd=tmp_path).stdout.decode()
    assert "prime256v1" in text or "P-256" in text
    assert "X509v3 Name Constraints: critical" in text
    assert "CA:TRUE, pathlen:0" in text
    # The same CA the next time.
    def fingerprint():
        return openssl("x509", "-in", str(path), "-noout", "-fingerprint",
                       cwd=tmp_path).stdout
    before = fingerprint()
    assert respan_ca(respan_cli, ca_env, "path").strip() == str(path)
    assert fingerprint() == before


@pytest.mark.parametrize("name,san,ok", [
    ("api.openai.com", "DNS:api.openai.com", True),
    ("europe-west4-aiplatform.googleapis.com",
     "DNS:europe-west4-aiplatform.googleapis.com", True),
    ("evil.example", "DNS:evil.example", False),
    ("openai.com", "DNS:openai.com", False),
    ("www.googleapis.com", "DNS:www.googleapis.com", False),
    ("both", "DNS:api.openai.com,DNS:evil.example", False),
    ("address", "DNS:api.openai.com,IP:127.0.0.1", False),
])
def test_cannot_vouch_for_another_name(name, san, ok, respan_cli, ca_env, tmp_path):
    respan_ca(respan_cli, ca_env, "path")
    said = leaf(tmp_path / "state" / "respan" / "ca", tmp_path, name, san)
    if ok:
        assert said.strip().endswith("leaf.pem: OK"), said
    else:
        assert "subtree violation" in said, said


def test_show_and_rotate(respan_cli, ca_env, tmp_path):
    shown = respan_ca(respan_cli, ca_env, "show")
    rows = [line.split(None, 1) for line in shown.splitlines()]
    first = dict(r for r in rows if len(r) == 2)
    assert first["permits"] == "api.openai.com"
    assert "every IP address" in shown
    again = respan_ca(respan_cli, ca_env, "rotate")
    assert again.strip().endswith("ca.pem")
    rotated = dict(r for r in (line.split(None, 1) for line in
                               respan_ca(respan_cli, ca_env, "show").splitlines()) if len(r) == 2)
    assert rotated["sha256"] != first["sha256"]


def test_new_provider_host_makes_a_new_ca(respan_cli, ca_env, tmp_path):
    """A host added in the config file must be permitted: the CA is made anew."""
    before = respan_ca(respan_cli, ca_env, "show")
    assert "llm.corp.example" not in before
    conf = tmp_path / "config.json"
    conf.write_text(json.dumps({"providers": {"llm.corp.example": "openai"}}))
    ca_env["RESPAN_CONFIG"] = str(conf)
    after = respan_ca(respan_cli, ca_env, "show")
    assert "llm.corp.example" in after
    said = leaf(tmp_path / "state" / "respan" / "ca", tmp_path, "llm.corp.example",
                "DNS:llm.corp.example")
    assert said.strip().endswith("leaf.pem: OK"), said


def test_refuses_a_directory_others_can_read(respan_cli, ca_env, tmp_path):
    ca_dir = tmp_path / "state" / "respan" / "ca"
    ca_dir.mkdir(parents=True)
    ca_dir.chmod(0o755)
    done = run([respan_cli, "ca", "path"], env=ca_env)
    assert done.returncode == 1
    assert b"mode 0700" in done.stderr
    assert not (ca_dir / "ca.key").exists()


def test_help_on_every_subcommand(respan_cli, ca_env, tmp_path):
    """--help after a subcommand is help too (the contract: --help on every
    command and subcommand), and it makes no CA."""
    for argv in (["--help"], ["path", "--help"], ["show", "-h"], ["rotate", "--help"]):
        done = run([respan_cli, "ca", *argv], env=ca_env)
        assert done.returncode == 0 and done.stdout.startswith(b"usage: respan ca"), argv
    assert not (tmp_path / "state" / "respan" / "ca").exists()
    assert run([respan_cli, "ca", "path", "extra"], env=ca_env).returncode == 2
