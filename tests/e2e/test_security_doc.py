"""docs/security.md names, for each promise, the tests that hold it. Every
name there must be a test in the tree: a test renamed or deleted fails
here until the page is fixed, so the page cannot go on citing a test that
no longer exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _defined_tests() -> set:
    names = set()
    for path in (REPO / "tests" / "e2e").glob("test_*.py"):
        names.update(re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(), re.M))
    for path in (REPO / "tests" / "unit").glob("test_*.c"):
        names.update(re.findall(r"cmocka_unit_test\((test_\w+)\)", path.read_text()))
    return names


def test_every_test_named_in_security_md_exists():
    page = (REPO / "docs" / "security.md").read_text()
    named = set(re.findall(r"`(test_\w+)`", page)) - {"test_security_doc"}
    files = set(re.findall(r"`(test_\w+\.(?:py|c))`", page))
    assert len(named) > 50, "the page names fewer tests than it should: parsing broke?"
    missing = sorted(named - _defined_tests())
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"
    gone = sorted(f for f in files if not ((REPO / "tests" / "e2e" / f).exists() or
                                           (REPO / "tests" / "unit" / f).exists()))
    assert not gone, f"docs/security.md names test files that do not exist: {gone}"
