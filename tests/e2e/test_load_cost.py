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


def engine_libs_mapped(maps: str) -> list:
    return sorted({line.rsplit("/", 1)[-1] for line in maps.splitlines()
                   if line.rsplit("/", 1)[-1].startswith(ENGINE_LIBS)})


def test_a_process_that_never_calls_maps_nothing_more(respan_env):
    # RESPAN_PARAMS is JSON: it is parsed (cJSON) before the first request,
    # not at start.
    respan_env["RESPAN_PARAMS"] = '{"customer_identifier": "ci-job-1"}'
    done = run(["/bin/cat", "/proc/self/maps"], env=respan_env, check=True)
    maps = done.stdout.decode()
    assert "librespan" in maps
    assert engine_libs_mapped(maps) == []
    assert done.stderr == b""
    assert read_log(respan_env["RESPAN_LOG"]) == []


def test_a_process_that_never_calls_touches_no_file(respan_env, tmp_path):
    """The log and its directories are made by the first record, not at
    load: a CI job's thousand greps and compilers leave nothing behind."""
    state = tmp_path / "state"
    respan_env["RESPAN_LOG"] = str(state / "deep" / "traffic.jsonl")
    respan_env["RESPAN_PARAMS"] = "not json"   # told at the first call, not here
    del respan_env["RESPAN_API_KEY"]           # the missing-key line: the same
    done = run(["/bin/sh", "-c", "true; /bin/true"], env=respan_env, check=True)
    assert done.stderr == b""
    assert not state.exists()
