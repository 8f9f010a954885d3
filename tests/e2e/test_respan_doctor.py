"""`respan doctor [PROGRAM]` (docs/contract.md#the-respan-command, docs/doctor.md).

doctor prints the effective configuration (each variable, its value and
where it came from, the key only as set/unset), the config warnings, the
library, the log file and the router, and for PROGRAM which layers can act
on it, ending with one line "verdict: ...". It reads PROGRAM and never runs
it (--run asks a Python interpreter one question), and touches the network
only with --check-router.

The programs are real: /usr/bin/curl, Debian's /usr/bin/python3, nodesource
node, Debian's /usr/bin/php with its curl extension, the ossl_client test
client, a static binary compiled here, a PHP look-alike and its extensions
compiled here, scripts, a setuid copy, and damaged ELF files made from a
real one.
"""

from __future__ import annotations

import os
import platform
import random
import re
import shutil
import stat
from pathlib import Path

import pytest

from standin.helpers import assert_no_secrets, clean_env, make_secret, run

PYTHON = "/usr/bin/python3"
CURL = "/usr/bin/curl"
NODE = "/usr/bin/node"
PHP = "/usr/bin/php"
# librespan.so leaves RTLD_DEEPBIND out on x86_64 only (hooks/dlopen.c).
DEEPBIND_HOOKED = platform.machine() == "x86_64"
NOBODY = 65534


@pytest.fixture
def env(tmp_path) -> dict:
    """A clean environment with a key, no config file, a log in tmp_path."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    return clean_env(home, RESPAN_API_KEY=make_secret(), RESPAN_CONFIG="off",
                     RESPAN_LOG=tmp_path / "traffic.jsonl")


def doctor(cli, args, env, code=0, timeout=60) -> str:
    """Run respan doctor; check its exit status; return stdout as text."""
    done = run([cli, "doctor", *args], env=env, timeout=timeout)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == code, f"exit {done.returncode}\n{out}\n{err}"
    return out


def verdict(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("verdict: ")]
    assert len(lines) == 1 and out.rstrip("\n").splitlines()[-1] == lines[0], out
    return lines[0][len("verdict: "):]


def field(out: str, name: str) -> str:
    """The text of the report row NAME (the first one)."""
    for ln in out.splitlines():
        if ln.startswith("  " + name + " ") and len(ln) > 34:
            return ln[34:]
    raise AssertionError(f"no row {name!r} in:\n{out}")


def layers(out: str) -> dict:
    """{1: "can act: ...", 2: ..., ...} from the layers block."""
    found = {}
    for ln in out.splitlines():
        m = re.match(r"  ([1-6]) (environment|libcurl|resolver|OpenSSL|GnuTLS|relay) +(.*)$",
                     ln)
        if m:
            found[int(m.group(1))] = m.group(3)
    assert set(found) == {1, 2, 3, 4, 5, 6}, out
    return found


def can(out: str) -> list:
    """[layer numbers that can act]."""
    return [n for n, text in sorted(layers(out).items()) if text.startswith("can act")]


def have_static_libc() -> bool:
    return shutil.which("cc") is not None and any(
        Path(d, "libc.a").exists() for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64",
                                             "/usr/lib"))


# --------------------------------------------------------------------------
# The command line


def test_help_usage_and_exit_status(respan_cli, env):
    out = doctor(respan_cli, ["--help"], env)
    assert out.startswith("usage: respan doctor")
    for opt in ("--check-router", "--run", "Exit status"):
        assert opt in out
    done = run([respan_cli, "--help"], env=env)
    assert b"respan doctor" in done.stdout

    done = run([respan_cli, "doctor", "--bogus"], env=env)
    assert done.returncode == 2 and done.stdout == b""
    assert b"respan doctor: unknown option --bogus" in done.stderr
    assert b"usage: respan doctor" in done.stderr


def test_program_not_found_or_not_a_file(respan_cli, env, tmp_path):
    done = run([respan_cli, "doctor", "no-such-program-here"], env=env)
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr == (b"respan doctor: no-such-program-here: not found in PATH "
                           b"(/usr/bin:/bin)\n")
    done = run([respan_cli, "doctor", str(tmp_path / "missing")], env=env)
    assert done.returncode == 1
    assert b"No such file or directory" in done.stderr
    done = run([respan_cli, "doctor", str(tmp_path)], env=env)
    assert done.returncode == 1 and b"is a directory" in done.stderr


def test_no_program_reports_configuration(respan_cli, env):
    out = doctor(respan_cli, [], env)
    key = env["RESPAN_API_KEY"]
    assert field(out, "RESPAN_API_KEY") == f"set ({len(key)} characters)  [environment]"
    assert field(out, "RESPAN_BASE_URL") == "https://api.respan.ai/api/  [default]"
    assert field(out, "RESPAN_MODE") == "route  [default]"
    assert field(out, "RESPAN_LOG") == env["RESPAN_LOG"] + "  [environment]"
    assert field(out, "RESPAN_CONFIG") == "off: no file is read  [environment]"
    for name in ("RESPAN_LOG_BODY_MAX", "RESPAN_ROUTE_PROVIDER", "RESPAN_PARAMS",
                 "RESPAN_CA_FILE", "RESPAN_FAIL", "RESPAN_DEBUG"):
        assert field(out, name).endswith("[default]"), name
    assert field(out, "OPENAI_API_KEY") == "the Respan key"
    assert field(out, "librespan.so").split()[0].endswith("/librespan.so")
    assert field(out, "check").startswith("not done")
    assert verdict(out) == "ready: route mode with a key, router https://api.respan.ai/api/"


# --------------------------------------------------------------------------
# Real programs


def test_curl_all_layers(respan_cli, env):
    if not Path(CURL).exists():
        pytest.skip("/usr/bin/curl is not installed")
    out = doctor(respan_cli, [CURL], env)
    # Debian's curl has libgnutls.so.30 too, through librtmp: layer 5 could
    # act on it, but its calls go through libssl, as the verdict says.
    assert can(out) == [1, 2, 3, 4, 5], out
    assert "libcurl.so.4" in layers(out)[2]
    assert "libssl.so.3" in layers(out)[4] and "via libcurl.so.4" in layers(out)[4]
    assert "via librtmp.so.1" in layers(out)[5]
    assert verdict(out) == "routed in-process (libcurl and OpenSSL layers)"


def test_curl_found_in_path_and_capture_mode(respan_cli, env):
    if not Path(CURL).exists():
        pytest.skip("/usr/bin/curl is not installed")
    env["RESPAN_MODE"] = "capture"
    out = doctor(respan_cli, ["curl"], env)
    assert field(out, "PROGRAM") == f"{CURL}  [found in PATH]"
    assert can(out) == [4, 5]
    assert verdict(out) == "logged in-process, not routed (RESPAN_MODE=capture)"
    env["RESPAN_MODE"] = "off"
    out = doctor(respan_cli, ["curl"], env)
    assert can(out) == []
    assert verdict(out) == "nothing routed or logged (RESPAN_MODE=off)"


def test_python3_ssl_module_by_file_search(respan_cli, env):
    out = doctor(respan_cli, [PYTHON], env)
    assert field(out, "runtime").startswith("Python 3.")
    ssl = field(out, "Python _ssl")
    assert re.match(r"/\S+/lib-dynload/_ssl\.\S*so; found by a file search", ssl), ssl
    assert "libssl.so.3" in field(out, "TLS libraries")
    assert "loaded when Python imports ssl" in field(out, "TLS libraries")
    assert can(out) == [1, 3, 4, 6]   # 6: SDK calls through the base URLs go to the relay
    assert verdict(out) == ("routed in-process (OpenSSL layer, libssl loaded by Python's "
                            "_ssl module)")


def test_python3_ssl_module_asked_with_run(respan_cli, env):
    truth = run([PYTHON, "-c", "import _ssl; print(_ssl.__file__)"], env=env, check=True)
    out = doctor(respan_cli, ["--run", PYTHON], env)
    ssl = field(out, "Python _ssl")
    assert ssl.startswith(truth.stdout.decode().strip() + "; the interpreter says so (--run)")
    assert "OpenSSL 3" in ssl
    assert verdict(out).startswith("routed in-process (OpenSSL layer")


def test_node_tls_compiled_in(respan_cli, env):
    if not Path(NODE).exists():
        pytest.skip("node is not installed")
    if b"libnode.so" in Path(NODE).read_bytes()[:1 << 20]:
        pytest.skip("this node links libnode (Debian's package), not nodesource's build")
    out = doctor(respan_cli, [NODE], env)
    assert field(out, "runtime") == "looks like Node.js (it exports node:: symbols)"
    assert re.search(r"OpenSSL \d+\.\d+\.\d+", field(out, "TLS compiled in"))
    assert field(out, "TLS libraries") == "none"
    assert can(out) == [1, 6]
    assert layers(out)[6].startswith("can act: the base URLs name the library's relay")
    assert "bypass event" in field(out, "note")
    assert verdict(out) == "routed via environment, logged by the library's relay (TLS compiled in)"
    del env["RESPAN_API_KEY"]
    out = doctor(respan_cli, [NODE], env)
    assert can(out) == []
    assert verdict(out).startswith("not routed (TLS compiled in; RESPAN_API_KEY is not set)")


def test_ossl_client(respan_cli, env, client_bin):
    out = doctor(respan_cli, [client_bin("ossl_client")], env)
    assert "needed by the program" in layers(out)[4]
    assert layers(out)[2].startswith("cannot act: libcurl is not linked")
    assert can(out) == [1, 3, 4]
    assert verdict(out) == "routed in-process (OpenSSL layer)"


def test_static_binary(respan_cli, env, tmp_path):
    if not have_static_libc():
        pytest.skip("no static libc (libc6-dev's libc.a) or no cc here")
    src = tmp_path / "hello.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "hello-static"
    run(["cc", "-static", "-o", exe, src], env=env, check=True)
    out = doctor(respan_cli, [exe], env)
    assert field(out, "format").endswith("statically linked")
    assert field(out, "blocked").startswith("a static binary: ld.so is not involved")
    assert can(out) == []
    assert "respan run sets the same variables" in layers(out)[1]
    assert verdict(out) == ("cannot be routed (static binary): LD_PRELOAD is not loaded; "
                            "respan run sets the base-URL variables for it")


def test_go_binary(respan_cli, env, tmp_path):
    go = shutil.which("go", path="/usr/local/go/bin:/usr/lib/go/bin:/usr/bin:/bin")
    if go is None:
        pytest.skip("go is not installed: no Go binary to look at (not faked)")
    (tmp_path / "main.go").write_text('package main\n\nimport "net/http"\n\n'
                                      'func main() { http.Get("https://api.openai.com/") }\n')
    (tmp_path / "go.mod").write_text("module example.com/hello\n\ngo 1.18\n")
    genv = dict(env, CGO_ENABLED="0", GOCACHE=str(tmp_path / "cache"),
                GOPATH=str(tmp_path / "gopath"), GOFLAGS="-mod=mod", GOPROXY="off",
                GOTOOLCHAIN="local")
    run([go, "build", "-o", tmp_path / "hello-go", "."], env=genv, cwd=tmp_path,
        check=True, timeout=300)
    out = doctor(respan_cli, [tmp_path / "hello-go"], env)
    assert field(out, "runtime").startswith("Go")
    assert "crypto/tls" in field(out, "TLS compiled in")
    assert verdict(out).startswith("cannot be routed (static Go binary): LD_PRELOAD is not "
                                   "loaded")


# --------------------------------------------------------------------------
# Libraries loaded later: dlopen, RTLD_DEEPBIND, PHP's extensions


def test_dlopen_row_names_deepbind(respan_cli, env):
    """python3 imports dlopen: what it loads later is hooked, RTLD_DEEPBIND
    included (x86_64); curl does not import dlopen and gets no such row."""
    out = doctor(respan_cli, [PYTHON], env)
    row = field(out, "dlopen")
    assert "RTLD_DEEPBIND" in row
    if DEEPBIND_HOOKED:
        assert row.startswith("libraries it loads later with dlopen are hooked like linked "
                              "ones, RTLD_DEEPBIND ones too")
    else:
        assert "except RTLD_DEEPBIND ones" in row
    assert "dlmopen" in row
    env["RESPAN_MODE"] = "off"
    out = doctor(respan_cli, [PYTHON], env)
    assert field(out, "dlopen").startswith("RESPAN_MODE=off: nothing is hooked")
    if Path(CURL).exists():
        out = doctor(respan_cli, [CURL], env)
        assert "  dlopen " not in out


def test_php_extensions_deepbind(respan_cli, env):
    """Debian's php: its extension directory as built in, curl.so there
    (libcurl with libssl), loaded RTLD_DEEPBIND and hooked all the same."""
    if not Path(PHP).exists():
        pytest.skip("/usr/bin/php is not installed (CI installs php-cli and php-curl)")
    truth = run([PHP, "-n", "-r", "echo PHP_EXTENSION_DIR, ' ', PHP_VERSION;"], env=env,
                check=True).stdout.decode().split()
    ext_dir, version = truth[0], truth[1]
    assert Path(ext_dir, "curl.so").exists(), f"php-curl is not installed in {ext_dir}"
    out = doctor(respan_cli, [PHP], env)
    assert field(out, "runtime") == f"PHP {version} (it exports php_module_startup)"
    row = field(out, "PHP extensions")
    assert row.startswith(f"PHP loads them from {ext_dir} (built in; php.ini may name "
                          "another) with RTLD_DEEPBIND"), row
    assert re.search(r"\bcurl\.so \(libcurl\.so\.4 with libssl\.so\.3\)", row), row
    assert "RTLD_DEEPBIND" in field(out, "dlopen")
    if DEEPBIND_HOOKED:
        assert "with RTLD_DEEPBIND: hooked all the same" in row
        assert layers(out)[2].startswith("can act: libcurl.so.4 with libssl.so.3, brought "
                                         "by PHP's curl.so")
        assert verdict(out) == "routed in-process (libcurl and OpenSSL layers)"
    else:
        assert "with RTLD_DEEPBIND: not hooked on this machine" in row
        assert layers(out)[2].startswith("cannot act: PHP's curl.so brings libcurl.so.4")
    env["RESPAN_MODE"] = "capture"
    out = doctor(respan_cli, [PHP], env)
    if DEEPBIND_HOOKED:   # capture mode: hooked, logged, not routed
        assert "with RTLD_DEEPBIND: hooked all the same" in field(out, "PHP extensions")
    assert verdict(out) == "logged in-process, not routed (RESPAN_MODE=capture)"


FAKE_PHP = r"""
#include <dlfcn.h>
#include <stdio.h>
/* What doctor reads in a PHP binary: its exported startup, its build ID,
   its extension directory and its version text. */
const char build_id[] = "API20990101,NTS";
const char ext_dir[] = EXT_DIR;
const char powered[] = "X-Powered-By: PHP/9.9.1";
void php_module_startup(void) {}
int main(int argc, char **argv)
{
	puts(build_id); puts(ext_dir); puts(powered);
	return argc > 1 && dlopen(argv[1], RTLD_NOW | RTLD_DEEPBIND) == NULL;
}
"""


def test_php_look_alike_extensions_bounded(respan_cli, env, tmp_path):
    """A PHP made here, upstream's directory layout, without a libssl of its
    own: 13 of its 15 extensions bring libcurl or libssl, 10 are named, then
    "and 3 more"; files that are not ELF are passed over."""
    if shutil.which("cc") is None:
        pytest.skip("no cc here")
    ext = tmp_path / "lib" / "php" / "extensions" / "no-debug-non-zts-20990101"
    ext.mkdir(parents=True)
    (tmp_path / "php.c").write_text(FAKE_PHP)
    php = tmp_path / "php"
    run(["cc", "-rdynamic", f'-DEXT_DIR="{ext}"', "-o", php, tmp_path / "php.c"], env=env,
        check=True)
    (tmp_path / "m.c").write_text("int get_module(void) { return 1; }\n")
    for name, lib in (("curl.so", "-l:libcurl.so.4"), ("ssl.so", "-l:libssl.so.3"),
                      ("plain.so", None)):
        run(["cc", "-shared", "-fPIC", "-Wl,--no-as-needed", "-o", ext / name,
             tmp_path / "m.c"] + ([lib] if lib else []), env=env, check=True)
    for i in range(11):
        shutil.copy(ext / "curl.so", ext / f"c{i:02d}.so")
    (ext / "notes.so").write_text("not an ELF file\n")
    (ext / "README").write_text("not a module\n")

    out = doctor(respan_cli, [php], env)
    assert field(out, "runtime") == "PHP 9.9.1 (it exports php_module_startup)"
    row = field(out, "PHP extensions")
    assert row.startswith(f"PHP loads them from {ext} (built in"), row
    assert "; 13 of 15 bring libcurl or TLS: " in row, row
    named = re.findall(r"(\S+\.so) \(", row)
    assert named == [f"c{i:02d}.so" for i in range(10)], row
    assert "c00.so (libcurl.so.4 with libssl.so.3)" in row
    assert row.endswith(", and 3 more"), row
    if DEEPBIND_HOOKED:
        assert verdict(out) == ("routed in-process (libcurl and OpenSSL layers, libcurl and "
                                "libssl loaded by PHP's c00.so)")

    # The directory gone: said so, nothing listed.
    shutil.rmtree(ext)
    out = doctor(respan_cli, [php], env)
    assert field(out, "PHP extensions").endswith("; the directory cannot be read: No such "
                                                 "file or directory")
    assert "more" not in field(out, "PHP extensions")


# --------------------------------------------------------------------------
# Scripts


def test_env_python_script(respan_cli, env, tmp_path):
    script = tmp_path / "legacy.py"
    script.write_text("#!/usr/bin/env python3\nprint('hi')\n")
    script.chmod(0o755)
    out = doctor(respan_cli, [script], env)
    assert field(out, "script") == (f"{script}: #!/usr/bin/env python3 -> env finds python3 "
                                    "in PATH: /usr/bin/python3")
    assert "layers for /usr/bin/python3" in out
    assert verdict(out).startswith("routed in-process (OpenSSL layer, libssl loaded by")


def test_scripts_that_cannot_be_routed(respan_cli, env, tmp_path):
    cases = {
        "drops.py": ("#!/usr/bin/env -S -i python3\n",
                     "cannot be routed (env in its #! line removes LD_PRELOAD)"),
        "missing.py": ("#!/nonexistent/python9\n",
                       "cannot be routed (its #! interpreter cannot be run)"),
        "dos.py": ("#!/usr/bin/python3\r\nprint(1)\r\n",
                   "cannot be routed (its #! interpreter cannot be run)"),
    }
    for name, (text, expected) in cases.items():
        script = tmp_path / name
        script.write_bytes(text.encode())
        script.chmod(0o755)
        out = doctor(respan_cli, [script], env)
        assert verdict(out) == expected, out
        assert "\r" not in out
    out = doctor(respan_cli, [tmp_path / "dos.py"], env)
    assert "carriage return" in out


def test_shell_script(respan_cli, env, tmp_path):
    script = tmp_path / "wrapper"
    script.write_text("#!/bin/sh\nexec python3 \"$@\"\n")
    script.chmod(0o755)
    out = doctor(respan_cli, [script], env)
    assert verdict(out) == ("nothing to route in the shell itself: run respan doctor on the "
                            "programs the script starts (LD_PRELOAD reaches them)")


def test_libcurl_built_on_gnutls(respan_cli, env, tmp_path):
    """libcurl-gnutls: layer 2 leaves its URLs alone, the resolver and the
    GnuTLS layer route its connections (test_gnutls_clients proves it)."""
    lib = Path("/usr/lib/x86_64-linux-gnu/libcurl-gnutls.so.4")
    if not lib.exists() or not Path("/usr/include/x86_64-linux-gnu/curl/curl.h").exists() \
            and not Path("/usr/include/curl/curl.h").exists():
        pytest.skip("libcurl-gnutls.so.4 or the curl headers are not installed")
    src = tmp_path / "gt.c"
    src.write_text("#include <curl/curl.h>\nint main(void) { CURL *c = curl_easy_init();\n"
                   "curl_easy_setopt(c, CURLOPT_URL, \"https://api.openai.com/v1/models\");\n"
                   "return (int)curl_easy_perform(c); }\n")
    exe = tmp_path / "gnutls_client"
    run(["cc", "-o", exe, src, lib], env=env, check=True)
    out = doctor(respan_cli, [exe], env)
    assert "libgnutls.so.30" in field(out, "TLS libraries")
    assert layers(out)[2].startswith("cannot act")
    assert "its URLs are left alone and the resolver and GnuTLS layers" in layers(out)[2]
    assert layers(out)[3].startswith("can act: libgnutls is loaded")
    assert not layers(out)[4].startswith("can act")
    assert layers(out)[5].startswith("can act: libgnutls.so.30")
    assert verdict(out) == "routed in-process (GnuTLS layer)"


def test_wget_on_gnutls(respan_cli, env):
    """wget links libgnutls.so.30 itself: layers 3 and 5 act, not 4."""
    out = doctor(respan_cli, ["/usr/bin/wget"], env)
    assert "libgnutls.so.30" in field(out, "TLS libraries")
    assert can(out) == [1, 3, 5]
    assert layers(out)[5].startswith("can act: libgnutls.so.30")
    assert "needed by the program" in layers(out)[5]
    assert verdict(out) == "routed in-process (GnuTLS layer)"


# --------------------------------------------------------------------------
# setuid, damaged and foreign files


def test_setuid_copy(respan_cli, env, tmp_path, client_bin):
    copy = tmp_path / "ossl_client-suid"
    shutil.copy(client_bin("ossl_client"), copy)
    if os.geteuid() == 0:
        os.chown(copy, NOBODY, -1)  # else the owner runs it: not secure execution
    copy.chmod(0o755 | stat.S_ISUID)
    out = doctor(respan_cli, [copy], env)
    row = field(out, "setuid/setgid")
    assert row.startswith("setuid (owner uid")
    if os.statvfs(tmp_path).f_flag & os.ST_NOSUID:
        assert "ignored: its file system is mounted nosuid" in row
        assert verdict(out) == "routed in-process (OpenSSL layer)"
    elif os.geteuid() == 0:
        assert row.endswith("secure execution when you run it")
        assert can(out) == []
        assert verdict(out) == ("cannot be routed (setuid: secure execution, librespan "
                                "does nothing)")
    else:
        assert "not secure execution when you run it" in row
        assert verdict(out) == "routed in-process (OpenSSL layer)"


def test_truncated_corrupt_and_foreign_files(respan_cli, env, tmp_path, client_bin):
    real = Path(client_bin("ossl_client")).read_bytes()
    files = {}
    for n in (0, 3, 4, 10, 52, 63, 64, 100, 1000, 3000, len(real) // 2, len(real) - 1):
        files[f"cut-{n}"] = real[:n]
    rnd = random.Random(7)
    files["random"] = bytes(rnd.randrange(256) for _ in range(4096))
    files["text"] = b"just some text, no #! line\n"
    bad = bytearray(real)
    bad[0x20:0x28] = (len(real) * 4).to_bytes(8, "little")   # e_phoff past the end
    files["phoff"] = bytes(bad)
    bad = bytearray(real)
    bad[0x36:0x38] = (17).to_bytes(2, "little")              # e_phentsize
    files["phentsize"] = bytes(bad)
    bad = bytearray(real)
    bad[5] = 2                                              # big-endian
    files["msb"] = bytes(bad)
    for i in range(40):                                     # a few random bytes changed
        bad = bytearray(real[:4096])
        for _ in range(8):
            bad[rnd.randrange(64, len(bad))] = rnd.randrange(256)
        files[f"flip-{i}"] = bytes(bad)
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        path.chmod(0o755)
        done = run([respan_cli, "doctor", path], env=env)
        out = done.stdout.decode()
        assert done.returncode == 0, (name, done.returncode, done.stderr)
        v = verdict(out)
        if name in ("random", "text", "cut-0", "cut-3"):
            assert v == "cannot be routed (not an ELF executable)", (name, out)
            assert field(out, "format").startswith("not an ELF file"), name
        elif name.startswith("cut-"):
            assert v == "cannot be routed (truncated ELF file)", (name, out)
            assert field(out, "format").startswith("truncated: "), name
        elif name == "phoff":
            assert v == "cannot be routed (truncated ELF file)"
        elif name == "phentsize":
            assert v == "cannot be routed (corrupt ELF file)"
            assert "corrupt: program header size 17" in out
        elif name == "msb":
            assert v == "cannot be routed (unsupported ELF file)"
            assert "big-endian" in out
        else:
            assert v.startswith(("cannot be routed", "routed", "nothing to route")), out
    out = doctor(respan_cli, [tmp_path / "cut-0"], env)
    assert field(out, "format") == "not an ELF file: the file is empty"


def test_32_bit_program_and_64_bit_library(respan_cli, env, tmp_path):
    cc = shutil.which("clang")
    ld = shutil.which("ld")
    if cc is None or ld is None:
        pytest.skip("clang and ld are needed to make a 32-bit program")
    (tmp_path / "p.c").write_text("int main(void) { return 0; }\n")
    obj, exe = tmp_path / "p.o", tmp_path / "p32"
    if run([cc, "-m32", "-c", "-o", obj, tmp_path / "p.c"], env=env).returncode != 0 or \
       run([ld, "-m", "elf_i386", "-pie", "-dynamic-linker", "/lib/ld-linux.so.2", "-e",
            "main", "-o", exe, obj], env=env).returncode != 0:
        pytest.skip("this toolchain cannot make a 32-bit i386 ELF file")
    out = doctor(respan_cli, [exe], env)
    assert field(out, "format").startswith("ELF 32-bit i386, dynamically linked")
    assert verdict(out) == "cannot be routed (32-bit i386 program, 64-bit x86-64 librespan.so)"


# --------------------------------------------------------------------------
# The configuration part


def test_key_is_never_printed(respan_cli, env, tmp_path):
    key = env["RESPAN_API_KEY"]
    env["RESPAN_ROUTE_PROVIDER"] = key          # pasted into the wrong variable
    env["RESPAN_PARAMS"] = '{"note": "%s"}' % key
    env["RESPAN_BASE_URL"] = "https://router.example/" + key + "/"
    for args in ([], [CURL], ["--run", PYTHON]):
        done = run([respan_cli, "doctor", *args], env=env)
        assert done.returncode == 0
        dump = tmp_path / "doctor-output.txt"
        dump.write_bytes(done.stdout + done.stderr)
        assert_no_secrets(dump, key)
        assert f"set ({len(key)} characters)".encode() in done.stdout
    file_key = make_secret("rk-file-")
    cfg = tmp_path / "config.json"
    cfg.write_text('{"api_key": "%s", "mode": "route"}' % file_key)
    cfg.chmod(0o600)
    env = dict(env, RESPAN_CONFIG=str(cfg))
    del env["RESPAN_API_KEY"]
    done = run([respan_cli, "doctor"], env=env)
    dump.write_bytes(done.stdout + done.stderr)
    assert_no_secrets(dump, file_key)
    assert f"set ({len(file_key)} characters)  [config file {cfg}]" in done.stdout.decode()


def test_bad_mode_warning(respan_cli, env):
    env["RESPAN_MODE"] = "foo"
    out = doctor(respan_cli, [], env)
    assert "  respan: RESPAN_MODE=foo: expected route, capture or off" in out.splitlines()
    assert field(out, "RESPAN_MODE") == ("route  [default; the environment's value was "
                                         "refused, see warnings]")
    assert verdict(out).endswith("; 1 configuration warning")


def test_config_file_values_attributed(respan_cli, env, tmp_path):
    cfg = tmp_path / "respan.json"
    cfg.write_text('{"mode": "capture", "fail": "closed", "log_body_max": 4096,'
                   ' "route_provider_anthropic": "vertex_ai", "debug": "maybe",'
                   ' "providers": {"llm.corp.example": "openai"}}')
    env.update(RESPAN_CONFIG=str(cfg), RESPAN_FAIL="open")
    out = doctor(respan_cli, [], env)
    src = f"[config file {cfg}]"
    assert field(out, "RESPAN_MODE") == "capture  " + src
    assert field(out, "RESPAN_LOG_BODY_MAX") == "4096  " + src
    assert field(out, "RESPAN_ROUTE_PROVIDER_ANTHROPIC") == "vertex_ai  " + src
    assert field(out, "RESPAN_FAIL") == "open  [environment]"
    assert field(out, "RESPAN_DEBUG") == ("0  [default; the config file's value was "
                                          "refused, see warnings]")
    assert field(out, "RESPAN_BASE_URL") == "https://api.respan.ai/api/  [default]"
    assert field(out, "RESPAN_CONFIG") == f"{cfg} (read)  [environment]"
    assert field(out, "providers (config file)") == "llm.corp.example -> openai"
    assert f'  respan: {cfg}: debug="maybe": expected 0 or 1' in out.splitlines()
    assert verdict(out) == ("capture only (RESPAN_MODE=capture): traffic is logged, not "
                            "routed; 1 configuration warning")


def test_default_config_file_and_its_mode(respan_cli, env, tmp_path):
    del env["RESPAN_CONFIG"]
    xdg = tmp_path / "xdg"
    (xdg / "respan").mkdir(parents=True)
    cfg = xdg / "respan" / "config.json"
    cfg.write_text('{"api_key": "%s"}' % make_secret("rk-file-"))
    cfg.chmod(0o644)
    del env["RESPAN_API_KEY"]
    env["XDG_CONFIG_HOME"] = str(xdg)
    out = doctor(respan_cli, [], env)
    assert field(out, "RESPAN_CONFIG") == f"{cfg} (read)  [default search]"
    assert field(out, "RESPAN_API_KEY").endswith(f"[config file {cfg}]")
    assert "holds the key and others can read it (mode 0644)" in out


def test_log_file_checks(respan_cli, env, tmp_path):
    log = Path(env["RESPAN_LOG"])
    out = doctor(respan_cli, [], env)
    assert field(out, "path") == str(log)
    assert re.fullmatch(re.escape(str(log.parent)) + r": exists, mode 0\d{3}, writable",
                        field(out, "directory"))
    assert field(out, "file").startswith("does not exist yet: the first record creates it")
    log.write_text("")
    log.chmod(0o644)
    out = doctor(respan_cli, [], env)
    assert field(out, "file").startswith("exists, mode 0644, 0 bytes; others can read it")
    env["RESPAN_LOG"] = str(tmp_path / "new" / "dir" / "traffic.jsonl")
    out = doctor(respan_cli, [], env)
    assert field(out, "directory").endswith("does not exist yet; the first process "
                                            "creates it (mode 0700)")
    env["RESPAN_LOG"] = "off"
    out = doctor(respan_cli, [], env)
    assert field(out, "path") == "off (RESPAN_LOG=off): nothing is logged"


def test_library_not_found(respan_cli, env, tmp_path):
    env["RESPAN_LIBRARY"] = str(tmp_path / "nope" / "librespan.so")
    out = doctor(respan_cli, [], env)
    assert "RESPAN_LIBRARY=" in field(out, "librespan.so")
    assert verdict(out).endswith("; librespan.so not found")


def test_preloaded_into_doctor(respan_cli, env, librespan):
    """With librespan.so preloaded in the shell, doctor reports the environment
    as it was given, not as the library's constructor changed it."""
    env["LD_PRELOAD"] = str(librespan)
    out = doctor(respan_cli, [], env)
    assert "this shell preloads librespan.so" in field(out, "LD_PRELOAD")
    assert field(out, "OPENAI_BASE_URL") == "https://api.respan.ai/api/"
    env["OPENAI_BASE_URL"] = "https://llm.internal.example/v1"
    out = doctor(respan_cli, [], env)
    assert field(out, "OPENAI_BASE_URL").startswith("yours (https://llm.internal.example/v1)")


# --------------------------------------------------------------------------
# The router


def test_ca_file_is_parsed(respan_cli, env, pki, tmp_path):
    env["RESPAN_CA_FILE"] = pki["ca"]
    out = doctor(respan_cli, [], env)
    assert re.search(r"1 PEM certificate, the first .*librespan test CA", out), out
    junk = tmp_path / "not-pem.crt"
    junk.write_text("hello\n")
    env["RESPAN_CA_FILE"] = str(junk)
    out = doctor(respan_cli, [], env)
    assert "no PEM certificate in it" in out


def test_check_router(respan_cli, env, router, pki):
    env.update(RESPAN_BASE_URL=router.url_for("localhost"), RESPAN_CA_FILE=pki["ca"])
    out = doctor(respan_cli, ["--check-router"], env)
    check = field(out, "check")
    assert check.startswith("ok: TLSv1.") and "certificate verified for localhost" in check
    assert not router.requests()            # a handshake only: nothing is sent
    env["RESPAN_CA_FILE"] = pki["wrong_ca"]
    out = doctor(respan_cli, ["--check-router"], env)
    assert field(out, "check").startswith("FAILED: certificate of localhost not trusted")
    assert verdict(out).endswith("; the router check FAILED")
    out = doctor(respan_cli, [], env)
    assert field(out, "check").startswith("not done")


def interception_rows(out: str) -> dict:
    block = out.split("\ninterception (", 1)[1].split("\n\n", 1)[0]
    return {line.split(None, 1)[0]: line.split(None, 1)[1]
            for line in block.splitlines()[1:] if line.startswith("  ")}


def test_doctor_reports_interception_and_the_ca(respan_cli, env, tmp_path):
    """Whether interception applies, and the CA: read, never made by doctor."""
    env = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    out = doctor(respan_cli, [], env)
    rows = interception_rows(out)
    assert rows["RESPAN_INTERCEPT"].startswith("auto")
    assert rows["CA"].endswith("not made yet (made on first need, by the first program "
                               "whose TLS the library cannot see)")
    assert not (tmp_path / "state" / "respan" / "ca").exists()
    done = run([respan_cli, "ca", "path"], env=env)
    assert done.returncode == 0, done.stderr
    rows = interception_rows(doctor(respan_cli, [], env))
    assert rows["CA"].startswith(done.stdout.decode().strip() + ", sha256 ")
    assert rows["permits"].endswith("provider names, no IP address")
    if Path(NODE).exists():
        text = layers(doctor(respan_cli, [NODE], env))[6]
        assert "intercepted there with the local CA" in text
        env["RESPAN_INTERCEPT"] = "off"
        out = doctor(respan_cli, [NODE], env)
        assert interception_rows(out)["RESPAN_INTERCEPT"].startswith("off")
        assert "are not (RESPAN_INTERCEPT=off)" in layers(out)[6]

