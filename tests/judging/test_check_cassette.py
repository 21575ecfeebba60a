"""The local default's filter check, replayed: target-loss on the real SmolLM2-135M passes on the held-out items.

Recorded against the embedded llama.cpp server. To re-record:
    codeclm serve smollm2-135m-instruct &      # prints its api_base
    CODECLM_RECORD_API_BASE=<api_base> pytest -o addopts="" --record-mode=rewrite tests/judging/test_check_cassette.py
Runs against: a cassette recorded from the real SmolLM2-135M (llama.cpp).
"""

import pytest

from codeclm.config import load_config
from codeclm.filter_check import check_filter
from codeclm.session import open_program

TARGET = "smollm2-135m-instruct"


@pytest.mark.vcr
def test_target_loss_passes_its_check_on_the_local_target(root, tmp_path, recorded_api_base):
    target = f"{{model: {TARGET}, api_base: '{recorded_api_base}', max_tries: 1, chat_template: chatml}}"
    config = load_config(root / "programs" / "codeclm.yaml", [f"models.target={target}", f"models.strong={target}",
                                                              f"cache.path={tmp_path / 'calls.sqlite'}"])
    with open_program(config) as session:
        report = check_filter(session)
    assert report.scheme == "target-loss" and report.items == 60 and report.failed == 0
    assert report.passed and report.accuracy >= 0.75 and report.ci_low > 0.5
    keep, back = (tuple(map(int, report.by_decision[d].split("/"))) for d in ("keep", "send_back"))
    assert keep[1] >= 8 and back[1] >= 8 and keep[0] / keep[1] > 0.5 and back[0] / back[1] > 0.5
    solved = [r for r in report.results if r.target_solved]
    assert solved and all(r.target_answer for r in report.results)  # labels come from the target's own answers
