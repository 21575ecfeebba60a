"""The local default's filter check, replayed: target-loss on the real Qwen2.5-Coder-0.5B target, at the theta
calibrated for it, on the held-out split of the labelled set (instructions the pipeline made, labelled by reading).

Runs against: a cassette recorded from the real Qwen2.5-Coder-0.5B-Instruct (codeclm's embedded llama.cpp server).
To re-record:
    codeclm serve qwen2.5-coder-0.5b-instruct &      # prints its api_base
    CODECLM_RECORD_API_BASE=<api_base> pytest -o addopts="" --record-mode=rewrite tests/judging/test_check_cassette.py
docs/figures.py replays the same cassette with the same settings for every figure README and docs quote.
"""

import importlib.util
import json

import pytest

from codeclm.models.config import load_config
from codeclm.check.program import check_filter
from codeclm.check.labelled import load_labelled
from codeclm.programs.session import open_program


def figures(root):
    spec = importlib.util.spec_from_file_location("figures", root / "docs" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.vcr
def test_the_local_defaults_check_replays_on_the_labelled_split(root, tmp_path, recorded_api_base):
    settings = figures(root).check_settings(recorded_api_base, tmp_path / "calls.sqlite")
    config = load_config(root / "programs" / "codeclm.yaml", settings)
    with open_program(config) as session:
        report = check_filter(session)
    check = load_labelled(split="check")
    decisions = [i for i in check if i.label in ("keep", "send_back")]
    assert report.scheme == "target-loss" and "bundled labelled set" in report.source and report.failed == 0
    assert report.items == len(decisions) and len(report.results) == len(check)
    calibrated = json.loads((root / "programs" / "calibrations.json").read_text())["calibrations"]
    assert report.theta == next(c["theta"] for c in calibrated if c["target"] == "local:qwen2.5-coder-0.5b-instruct")
    # the guards decide the invalid / bad-answer items before any scoring; every other item got a gap
    assert all(r.gap is not None for r in report.results if r.decided in ("keep", "send_back"))
    assert set(report.guards) == {"invalid dropped", "bad_answer dropped", "valid items dropped by a guard"}
    assert report.baseline and report.baseline["n"] == report.items
    assert report.status in ("passed", "failed") and (report.status == "passed") == report.passed
