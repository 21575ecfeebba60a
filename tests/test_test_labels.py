"""Every test file says what it runs against (a real-model recording, a fake, a stub, a hand-written cassette, or
no model), in a `Runs against:` line of its docstring, and a cassette test's label names where its cassette came from.

Runs against: no model and no server (the test files' own text).
"""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
KINDS = ("real", "fake", "stub", "hand-written", "no model", "scripted", "argument parsing", "Ray")


def test_every_test_file_says_what_it_runs_against():
    unlabeled = []
    for path in sorted(TESTS.rglob("test_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        line = next((x for x in doc.splitlines() if x.startswith("Runs against:")), "")
        if not any(kind in line for kind in KINDS):
            unlabeled.append(str(path.relative_to(TESTS)))
    assert not unlabeled, f"no 'Runs against:' line naming real/fake/stub/hand-written/no model: {unlabeled}"


def test_a_cassette_test_names_its_cassettes_source():
    for path in sorted(TESTS.rglob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        if "\n@pytest.mark.vcr" not in text:
            continue
        line = next(x for x in ast.get_docstring(ast.parse(text)).splitlines() if x.startswith("Runs against:"))
        assert "cassette" in line and any(k in line for k in ("real", "fake", "hand-written")), (path.name, line)
