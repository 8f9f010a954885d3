"""What a process pays for having librespan.so loaded when it never calls an
LLM (docs/layers.md: librespan.so needs only libc at load time).

The library needs libc alone (ldd), and a process that makes no provider
call maps none of the libraries the engine uses later (cJSON, zlib, brotli,
zstd: hooks/deps.c dlopen()s them on first need), and prints nothing."""

from __future__ import annotations

import os
import subprocess

from standin.helpers import read_log, run

ENGINE_LIBS = ("libcjson", "libz.so", "libbrotli", "libzstd", "libssl", "libcrypto")
# What a sanitizer build adds to what the library needs (make sanitize).
SAN_LIBS = ("libasan", "libubsan", "libclang_rt", "libm.so", "libgcc_s", "libstdc++")


def needed(path) -> list:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, check=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout.decode()
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines()
            if "(NEEDED)" in line]


def test_needs_only_libc(librespan):
    """libc, and the dynamic loader, which every process has mapped anyway."""
    libs = [n for n in needed(librespan) if not n.startswith("ld-linux")
            and not (os.environ.get("RESPAN_SAN_RUNTIME") and n.startswith(SAN_LIBS))]
    assert libs == ["libc.so.6"], libs


def test_a_process_that_never_calls_maps_nothing_more(respan_env):
    respan_env["RESPAN_PARAMS"] = ""          # (a set one is parsed at start: cJSON)
    done = run(["/bin/cat", "/proc/self/maps"], env=respan_env, check=True)
    maps = done.stdout.decode()
    assert "librespan" in maps
    loaded = sorted({line.rsplit("/", 1)[-1] for line in maps.splitlines()
                     if line.rsplit("/", 1)[-1].startswith(ENGINE_LIBS)})
    assert loaded == [], loaded
    assert done.stderr == b""
    assert read_log(respan_env["RESPAN_LOG"]) == []
