"""`--fail-on-skip` (tests/skip_check.py, used by .ci/run): pytest run in a subprocess on small test files of its own.

Runs against: pytest in a subprocess on small test files of its own (no model).
"""

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

FILE = '''
import pytest

def test_runs():
    assert True

def test_needs_an_extra():
    pytest.importorskip("no_such_module_codeclm_x", reason="the x extra is not installed")
'''
MODULE_SKIP = 'import pytest\npytest.importorskip("no_such_module_codeclm_y", reason="the y extra is missing")\n'


def pytest_in(tmp_path, *args):
    (tmp_path / "test_a.py").write_text(FILE)
    (tmp_path / "test_b.py").write_text(MODULE_SKIP)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "skip_check", "-p", "no:cacheprovider", "-q",
                           "-o", "addopts=", str(tmp_path), *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=120)


def test_a_skip_fails_the_run_naming_the_test_and_why(tmp_path):
    result = pytest_in(tmp_path, "--fail-on-skip")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "--fail-on-skip: 2 skipped" in out
    assert "test_a.py::test_needs_an_extra: the x extra is not installed" in out
    assert "test_b.py: the y extra is missing" in out


def test_without_the_option_a_skip_is_still_a_pass(tmp_path):
    assert pytest_in(tmp_path).returncode == 0
