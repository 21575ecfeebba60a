"""pytest plugin: `--fail-on-skip` makes a run that skipped any test exit 1, listing each skipped test and why.

README's install (`pip install -e '.[local,dev]'`) enables every test: the live local-model tests, Ray, optuna,
matplotlib, datasets. A skip there means the install is broken, and CI (.ci/run) must not pass it as green.
Loaded by tests/conftest.py; tests/test_skip_check.py runs it on a file of its own.
"""

from __future__ import annotations

import pytest

_skipped: list[tuple[str, str]] = []


def pytest_addoption(parser):
    parser.addoption("--fail-on-skip", action="store_true", default=False,
                     help="exit 1 when any test is skipped, listing which and why (CI: the documented install "
                     "enables every test)")


def _reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def pytest_collectreport(report):
    if report.skipped:  # a whole module skipped at import (pytest.importorskip at module level)
        _skipped.append((report.nodeid, _reason(report)))


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append((report.nodeid, _reason(report)))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if not session.config.getoption("--fail-on-skip") or not _skipped:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"--fail-on-skip: {len(_skipped)} skipped; the documented install (pip install -e '.[local,dev]') "
             "should run them:"] + [f"  {nodeid}: {reason}" for nodeid, reason in _skipped]
    for line in lines:
        reporter.write_line(line, red=True) if reporter else print(line)
    if session.exitstatus == 0:
        session.exitstatus = 1
