"""The manual pages man/respan.1 and man/librespan.7 (docs/contract.md,
"The respan command"): well-formed, and in step with the code.

- Each page formats without a single warning, checked the way lintian
  checks a Debian package's pages (`man --warnings ... -l`) and with every
  groff warning on (`groff -man -ww -z`); lexgrog reads its NAME line (the
  whatis entry); .TH names the page and section of its file.
- respan.1 names every command, subcommand, option and RESPAN_ variable
  that `respan --help` and each command's --help show (read from the
  binary, so a new command or option without a manual entry fails here),
  plus the ones the contract promises.
- librespan.7 names every RESPAN_ variable preload/config.c reads, every
  log field preload/record.c writes, and every event the contract lists.

The pages are checked as rendered (groff, ASCII), with white space
collapsed, so that a line break in the page never hides a name.
Skipped, with the reason, where man or groff is not installed
(scripts/install-deps installs man-db and groff-base).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from standin.helpers import clean_env, run

REPO = Path(__file__).resolve().parents[2]
MAN_DIR = REPO / "man"
PAGES = ["respan.1", "librespan.7"]
CONFIG_C = REPO / "preload" / "config.c"
RECORD_C = REPO / "preload" / "record.c"

# Named by the contract (docs/contract.md, issue 13) for respan(1): the
# commands and options the binary's own --help may not list yet.
CONTRACT_COMMANDS = ["run", "replay", "log show", "log har", "log summary", "log curl",
                     "doctor", "ca path", "ca show", "ca rotate"]
CONTRACT_OPTIONS = ["--log", "--mode", "--fail", "--base-url", "--route-provider",
                    "--ca-file", "--record", "--miss", "--format", "--provider", "--pid",
                    "--status", "--since", "--id", "-f", "-v", "--check-router", "--run",
                    "--help", "--version"]
CONTRACT_WORDS_RESPAN = ["fail|live", "text|json|markdown", "replay_miss",
                         "RESPAN_LOG_BODY_MAX", "librespan(7)"]

# Named by the contract for librespan(7): record types and events.
RECORD_TYPES = ["request", "response", "event"]
LOG_FIELDS = ["type", "body_base64", "model"]  # written by record.c other than key()
EVENTS = ["bypass", "blocked", "not_routed", "config_error", "log_error", "http_error",
          "relay_error", "relay_refused", "router_unreachable", "replay_miss"]
CONTRACT_WORDS_LIB = ["LD_PRELOAD", "respan(1)", "RTLD_DEEPBIND", "NODE_EXTRA_CA_CERTS",
                      "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN",
                      "ANTHROPIC_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY",
                      "GOOGLE_API_KEY", "[REDACTED]", "/etc/respan/config.json"]


def _page(name: str) -> Path:
    path = MAN_DIR / name
    assert path.is_file(), f"{path} is missing"
    return path


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian package {package}; "
                    "scripts/install-deps installs it)")
    return path


def _env(tmp_path) -> dict:
    """A clean environment for man, groff and respan: no LD_PRELOAD, no
    configuration file, a private HOME; no pager, no colour."""
    return clean_env(tmp_path, LC_ALL="C.UTF-8", RESPAN_CONFIG="off", MANROFFSEQ="",
                     MANWIDTH="80", MANPAGER="cat", PAGER="cat", GROFF_NO_SGR="1")


def _rendered(page: Path, tmp_path) -> str:
    """PAGE formatted as plain ASCII text, hyphenation off, white space
    collapsed to single spaces."""
    groff = _need("groff", "groff-base")
    proc = run([groff, "-man", "-Tascii", "-rHY=0", "-P-bou", page], _env(tmp_path),
               timeout=60, check=True)
    return re.sub(r"\s+", " ", proc.stdout.decode("ascii", errors="replace"))


def _named(text: str, word: str) -> bool:
    """WORD appears in TEXT as a whole token (not inside a longer name)."""
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def _warnings_of(argv: list, tmp_path) -> str:
    proc = run(argv, _env(tmp_path), timeout=60)
    return (f"exit {proc.returncode}\n" if proc.returncode else "") + \
        proc.stderr.decode(errors="replace")


def _man_argv(page) -> list:
    # What lintian runs on every page of a package (its manpages check).
    return [_need("man", "man-db"), "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z",
            str(page)]


def _groff_argv(page) -> list:
    return [_need("groff", "groff-base"), "-man", "-ww", "-z", "-Tutf8", str(page)]


# ---- well-formed ----------------------------------------------------------------

@pytest.mark.parametrize("name", PAGES)
def test_man_formats_the_page_without_warnings(name, tmp_path):
    assert _warnings_of(_man_argv(_page(name)), tmp_path) == ""


@pytest.mark.parametrize("name", PAGES)
def test_groff_with_every_warning_on_has_nothing_to_say(name, tmp_path):
    assert _warnings_of(_groff_argv(_page(name)), tmp_path) == ""


def test_the_warning_checks_do_see_a_broken_page(tmp_path):
    """The two checks above would pass on anything if the tools kept quiet:
    a page with an undefined macro and a bad escape must be reported."""
    broken = tmp_path / "broken.1"
    broken.write_text(".TH BROKEN 1\n.SH NAME\nbroken \\- a test page\n"
                      ".SH DESCRIPTION\n.NOSUCHMACRO\ntext \\[nosuchglyph]\n")
    assert _warnings_of(_groff_argv(broken), tmp_path) != ""
    assert _warnings_of(_man_argv(broken), tmp_path) != ""


@pytest.mark.parametrize("name", PAGES)
def test_page_is_ascii_and_th_matches_the_file_name(name):
    text = _page(name).read_bytes()
    assert all(b < 0x80 for b in text), "write non-ASCII characters as roff escapes"
    th = re.search(rb"^\.TH +(\S+) +(\S+)", text, re.M)
    assert th, ".TH is missing"
    stem, section = name.rsplit(".", 1)
    assert th.group(1).decode() == stem.upper()
    assert th.group(2).decode() == section


@pytest.mark.parametrize("name", PAGES)
def test_whatis_entry_is_readable(name, tmp_path):
    lexgrog = _need("lexgrog", "man-db")
    proc = run([lexgrog, _page(name)], _env(tmp_path), timeout=60)
    out = proc.stdout.decode(errors="replace")
    stem = name.rsplit(".", 1)[0]
    assert proc.returncode == 0, out + proc.stderr.decode(errors="replace")
    assert re.search(r': "' + re.escape(stem) + r' - \S', out), out


# ---- respan(1) against the binary -------------------------------------------------

USAGE_LINE = re.compile(r"^(?:usage:)?\s+respan\s+(\S+)(?:\s+(\S+))?", re.M)
SUBCOMMANDS = re.compile(r"^[a-z][a-z-]*(?:\|[a-z][a-z-]*)*$")
OPTION_LINE = re.compile(r"^\s*-.*$", re.M)
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
VARIABLE = re.compile(r"\bRESPAN_[A-Z0-9_]*[A-Z0-9]\b")


def _help(respan_cli, tmp_path, *words: str) -> str:
    """`respan WORDS --help`: its usage, wherever it was printed."""
    proc = run([respan_cli, *words, "--help"], _env(tmp_path), timeout=30)
    return (proc.stdout + proc.stderr).decode(errors="replace")


def _commands(help_text: str, prefix: str = "") -> set:
    """The commands a help text names: its usage lines (`respan log
    show|har|summary`, `respan run [OPTIONS]`) and its Commands: block."""
    found = set()
    for first, second in USAGE_LINE.findall(help_text):
        if first.startswith("-") or first.startswith("["):
            continue
        if second and SUBCOMMANDS.match(second):
            found.update(f"{first} {sub}" for sub in second.split("|"))
        else:
            found.add(first)
    block = re.search(r"^Commands:\n((?:  .*\n|\s*\n)*?)(?:\n|\Z)", help_text, re.M)
    if block:
        for name in re.findall(r"^  ([a-z][a-z-]*)\s{2,}\S", block.group(1), re.M):
            found.add(f"{prefix}{name}")
    return found


def _options(help_text: str) -> set:
    lines = OPTION_LINE.findall(help_text) + \
        [m.group(0) for m in re.finditer(r"^(?:usage:)?\s+respan\s.*$", help_text, re.M)]
    return {o for line in lines for o in OPTION.findall(line)}


@pytest.fixture
def binary_help(respan_cli, tmp_path) -> dict:
    """{command: its help text} for `respan` itself ("") and every command
    and subcommand its help texts name."""
    texts = {"": _help(respan_cli, tmp_path)}
    todo = sorted(_commands(texts[""]))
    while todo:
        cmd = todo.pop()
        if cmd in texts:
            continue
        texts[cmd] = _help(respan_cli, tmp_path, *cmd.split())
        if " " not in cmd:
            todo.extend(sorted(_commands(texts[cmd], prefix=cmd + " ") - set(texts)))
    return texts


def test_binary_help_is_understood(binary_help):
    """The parsing below found what respan --help plainly lists."""
    for cmd in ("run", "log", "log show", "doctor", "ca"):
        assert cmd in binary_help, sorted(binary_help)


def test_respan_1_names_every_command_the_binary_has(binary_help, tmp_path):
    text = _rendered(_page("respan.1"), tmp_path)
    missing = [cmd for cmd in sorted(binary_help) if cmd and f"respan {cmd}" not in text]
    assert missing == [], f"commands in respan --help but not in respan.1: {missing}"


def test_respan_1_names_every_option_the_binary_has(binary_help, tmp_path):
    text = _rendered(_page("respan.1"), tmp_path)
    missing = sorted({f"{cmd or 'respan'}: {opt}" for cmd, help_text in binary_help.items()
                      for opt in _options(help_text) if not _named(text, opt)})
    assert missing == [], f"options in the binary's --help but not in respan.1: {missing}"


def test_respan_1_names_every_variable_the_binary_mentions(binary_help, tmp_path):
    text = _rendered(_page("respan.1"), tmp_path)
    names = {v for help_text in binary_help.values() for v in VARIABLE.findall(help_text)}
    missing = sorted(v for v in names if not _named(text, v))
    assert missing == [], f"variables in the binary's --help but not in respan.1: {missing}"


def test_respan_1_names_what_the_contract_promises(tmp_path):
    text = _rendered(_page("respan.1"), tmp_path)
    missing = [f"respan {c}" for c in CONTRACT_COMMANDS if f"respan {c}" not in text]
    missing += [o for o in CONTRACT_OPTIONS if not _named(text, o)]
    missing += [w for w in CONTRACT_WORDS_RESPAN if w not in text]
    assert missing == []


# ---- librespan(7) against the library's sources ----------------------------------

def _config_variables() -> set:
    """Every RESPAN_ variable named in a string in preload/config.c (a bare
    prefix such as "RESPAN_ROUTE_PROVIDER_" is not a variable)."""
    names = set(re.findall(r'"(RESPAN_[A-Z0-9_]*)', CONFIG_C.read_text()))
    return {n for n in names if not n.endswith("_")}


def _record_fields() -> set:
    """Every field name preload/record.c writes with key()."""
    return set(re.findall(r'\bkey\(&?w, "([a-z_0-9]+)"\)', RECORD_C.read_text()))


def test_sources_are_understood():
    assert {"RESPAN_API_KEY", "RESPAN_INTERCEPT", "RESPAN_CONFIG",
            "RESPAN_ROUTE_PROVIDER_VERTEXAI"} <= _config_variables()
    assert {"routed_url", "output_text", "detail"} <= _record_fields()


def test_librespan_7_names_every_variable_config_c_reads(tmp_path):
    text = _rendered(_page("librespan.7"), tmp_path)
    missing = sorted(v for v in _config_variables() if not _named(text, v))
    assert missing == [], f"variables preload/config.c reads, not in librespan.7: {missing}"


def test_librespan_7_names_every_log_field_and_event(tmp_path):
    text = _rendered(_page("librespan.7"), tmp_path)
    words = sorted(_record_fields() | set(LOG_FIELDS) | set(RECORD_TYPES) | set(EVENTS))
    missing = [w for w in words if not _named(text, w)]
    assert missing == [], f"log fields or events not in librespan.7: {missing}"


def test_librespan_7_names_what_the_contract_promises(tmp_path):
    text = _rendered(_page("librespan.7"), tmp_path)
    missing = [w for w in CONTRACT_WORDS_LIB if w not in text]
    missing += [f"layer {n}" for n in range(1, 7)
                if not re.search(rf"\b{n}\. [A-Z]", text)]
    assert missing == []


def test_pages_refer_to_each_other(tmp_path):
    assert "librespan(7)" in _rendered(_page("respan.1"), tmp_path)
    assert "respan(1)" in _rendered(_page("librespan.7"), tmp_path)
