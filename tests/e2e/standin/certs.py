#!/usr/bin/env python3
"""Throwaway PKI for the end-to-end tests, made with the `openssl` command.

    make_pki(dirpath) -> {"ca": ..., "cert": ..., "key": ..., "wrong_ca": ..., ...}

Everything is generated at test time into `dirpath` (a temp dir) and never
committed. Keys are EC P-256, so the whole set takes a few tens of
milliseconds. What is made:

    ca, ca_key            the test CA ("librespan test CA"), CA:TRUE
    cert, key             the stand-in router's certificate, signed by `ca`,
                          subjectAltName DNS:localhost, DNS:router.test,
                          IP:127.0.0.1, IP:::1
    wrong_ca, wrong_ca_key
                          an unrelated CA: trusting only it must make
                          verification of `cert` fail
    wrong_cert, wrong_key same names as `cert`, but signed by `wrong_ca`: a
                          router presenting it must be refused by a client
                          that trusts `ca`
    badname_cert, badname_key
                          signed by `ca`, but only for DNS:not-the-router.test:
                          hostname verification must refuse it

Also a command: `python3 certs.py DIR` makes the set in DIR and prints the
paths as JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

# The router certificate's names: everything a test may use to reach it.
ROUTER_SAN = "DNS:localhost, DNS:router.test, IP:127.0.0.1, IP:::1"
BADNAME_SAN = "DNS:not-the-router.test"

# A private OpenSSL configuration, so that neither /etc/ssl/openssl.cnf nor
# OPENSSL_CONF changes what is made. One section per kind of certificate.
_CONFIG = f"""\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = placeholder

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[v3_router]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {ROUTER_SAN}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_badname]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {BADNAME_SAN}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

_DAYS = "2"


def _openssl(*args: str, cwd: Path) -> None:
    """Run one openssl command with a minimal environment; raise on failure."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C", "OPENSSL_CONF": str(cwd / "openssl.cnf")}
    proc = subprocess.run(["openssl", *args], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n"
                           f"{proc.stderr.decode(errors='replace')}")


def _new_key_args(key: str) -> list[str]:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key]


def _make_ca(d: Path, name: str, cn: str) -> None:
    """Self-signed CA certificate NAME.pem with key NAME.key."""
    _openssl("req", "-x509", "-config", "openssl.cnf", "-extensions", "v3_ca",
             *_new_key_args(f"{name}.key"), "-subj", f"/CN={cn}",
             "-days", _DAYS, "-out", f"{name}.pem", cwd=d)


def _make_leaf(d: Path, name: str, ca: str, extensions: str, cn: str,
               extfile: str = "openssl.cnf") -> None:
    """Key NAME.key and certificate NAME.pem signed by CA (CA.pem/CA.key),
    with the EXTENSIONS section of EXTFILE."""
    _openssl("req", "-new", "-config", "openssl.cnf", *_new_key_args(f"{name}.key"),
             "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-set_serial", "0x" + secrets.token_hex(8), "-days", _DAYS,
             "-extfile", extfile, "-extensions", extensions,
             "-out", f"{name}.pem", cwd=d)
    (d / f"{name}.csr").unlink()


def make_pki(dirpath: str | os.PathLike) -> dict[str, str]:
    """Make the test CA, the router certificate and the wrong ones in DIRPATH.

    Returns a dict of absolute paths (see the module docstring for the keys).
    """
    d = Path(dirpath).resolve()
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    (d / "openssl.cnf").write_text(_CONFIG)

    _make_ca(d, "ca", "librespan test CA")
    _make_ca(d, "wrong_ca", "unrelated wrong CA")
    _make_leaf(d, "router", "ca", "v3_router", "localhost")
    _make_leaf(d, "wrong_router", "wrong_ca", "v3_router", "localhost")
    _make_leaf(d, "badname", "ca", "v3_badname", "not-the-router.test")

    return {
        "dir": str(d),
        "ca": str(d / "ca.pem"),
        "ca_key": str(d / "ca.key"),
        "cert": str(d / "router.pem"),
        "key": str(d / "router.key"),
        "wrong_ca": str(d / "wrong_ca.pem"),
        "wrong_ca_key": str(d / "wrong_ca.key"),
        "wrong_cert": str(d / "wrong_router.pem"),
        "wrong_key": str(d / "wrong_router.key"),
        "badname_cert": str(d / "badname.pem"),
        "badname_key": str(d / "badname.key"),
    }


# Every built-in provider host (docs/contract.md#routes): capture-mode tests serve
# them from a stand-in that the client reaches by address.
PROVIDER_NAMES = ("api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com",
                  "aiplatform.googleapis.com", "us-central1-aiplatform.googleapis.com")


def make_named_cert(pki: dict, name: str, dns_names=PROVIDER_NAMES) -> tuple:
    """A certificate for DNS_NAMES signed by the test CA of PKI (see make_pki),
    written as NAME.pem and NAME.key in the PKI's directory. Returns the pair
    of paths (cert, key). Made once: a second call returns the same files."""
    d = Path(pki["dir"])
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    if not cert.exists():
        section = f"v3_{name}"
        san = ", ".join(f"DNS:{n}" for n in dns_names)
        (d / f"{name}.cnf").write_text(
            f"[{section}]\nbasicConstraints = critical, CA:FALSE\n"
            f"keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
            f"subjectAltName = {san}\nsubjectKeyIdentifier = hash\n"
            f"authorityKeyIdentifier = keyid\n")
        _make_leaf(d, name, "ca", section, dns_names[0], extfile=f"{name}.cnf")
    return str(cert), str(key)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: certs.py DIR")
    print(json.dumps(make_pki(sys.argv[1]), indent=2))
