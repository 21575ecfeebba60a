"""A pointwise scheme rates each answer alone: one outcome per item, no both-orders rule, no order figures.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json
import sys
from pathlib import Path

import pytest
from eval_helpers import answerer, run_eval, write_bench
from fakes import ScriptedLM

from codeclm.cli import main
from codeclm.errors import ConfigError
from codeclm.evaluation.display import print_report, title

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "judging"))
from helpers import pointwise  # noqa: E402

RATINGS = {"better": {"9": 1.0}, "same": {"6": 1.0}, "worse": {"2": 1.0}}  # the candidate's rating; the reference gets 6


def rate(answer):
    return RATINGS[answer.split(": ", 1)[1]] if answer.startswith("candidate") else {"6": 1.0}


def lms():
    judge = pointwise(rate)
    return {"candidate": answerer("candidate"), "reference": answerer("reference"),
            "judge": ScriptedLM(lambda step, messages: judge(messages), "fake/judge")}


def test_one_pointwise_outcome_per_item_and_no_rule(root, tmp_path):
    from rich.console import Console

    bench = write_bench(tmp_path, RATINGS)
    report = run_eval(root, bench, tmp_path, lms=lms(), overrides=["judging.scheme=pointwise-logprob"])
    assert report.outcome_kind == "pointwise" and report.rule == "n/a"
    assert {i.instruction: (i.order_outcomes, i.outcome, i.rule) for i in report.items} == {
        "better": (["win"], "win", "n/a"), "same": (["tie"], "tie", "n/a"), "worse": (["loss"], "loss", "n/a")}
    j = report.judge_consistency
    assert j.orders_agree is None and j.first_position_wins is None and j.mean_reference_score == pytest.approx(6)
    assert report.crr == pytest.approx(2 / 3)
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["rule"] == "n/a" and summary["outcome_kind"] == "pointwise"
    console = Console(record=True, width=300)
    print_report(report, console)
    text = console.export_text()
    assert "pointwise: one outcome per item, rule n/a" in title(report) and "orders agree n/a, first position n/a" in text


def test_a_rule_with_a_pointwise_scheme_is_refused(root, tmp_path):
    bench = write_bench(tmp_path, RATINGS)
    with pytest.raises(ConfigError, match=r"--rule alpagasus: scheme pointwise-logprob rates each answer alone .* drop --rule"):
        run_eval(root, bench, tmp_path, "alpagasus", lms=lms(), overrides=["judging.scheme=pointwise-logprob"])
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_refuses_a_rule_for_the_default_pointwise_eval_in_one_line(root, tmp_path, capsys):
    code = main(["eval", "--benchmark", "vicuna", "--candidate", "target", "--rule", "paper",
                 "--program", str(root / "programs" / "codeclm.yaml"), "--out", str(tmp_path / "e.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "--rule paper: scheme pointwise-logprob" in err and "Traceback" not in err
