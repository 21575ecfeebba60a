"""`codeclm eval` judges only with a scheme and judge whose filter check passed (recorded by `codeclm judge check`
beside the program); otherwise one line and exit 2 before any model starts, unless --unverified, which labels the
figure.
Runs against: fake LMs (tests/fakes.py ScriptedLM judges) and a copied program; no model, no server.
"""

import json

import pytest
from eval_helpers import write_bench

from codeclm.cli import main
from codeclm.models.config import load_config
from codeclm.evaluation.harness import judge_unchecked
from codeclm.models.calibrations import CheckRecord, record_check


@pytest.fixture
def program(root, tmp_path):
    """The shipped program, copied where no check has been recorded; templates from the checkout."""
    folder = tmp_path / "prog"
    folder.mkdir()
    text = (root / "programs" / "codeclm.yaml").read_text().replace("prompts: ../prompts", f"prompts: {root / 'prompts'}")
    (folder / "codeclm.yaml").write_text(text)
    return folder / "codeclm.yaml"


def test_eval_without_a_passed_check_refuses_before_any_model_starts(program, tmp_path, capsys):
    code = main(["eval", "--benchmark", "vicuna", "--candidate", "target", "--program", str(program), "--limit", "2",
                 "--set", "judging.scheme=pairwise-1-10", "--out", str(tmp_path / "e.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "no filter check recorded" in err and "--unverified" in err and "judge check" in err
    assert not (tmp_path / "e.jsonl").exists()


def test_a_failed_check_is_named_and_a_passed_one_lets_eval_judge(program):
    config = load_config(program, ["judging.scheme=pairwise-1-10"])
    judge = config.models.strong.label
    record_check(program.parent, CheckRecord(scheme="pairwise-1-10", judge=judge, target="t", status="failed",
                                             line="32/60 right: FAILED", source="s"))
    assert "did not pass its filter check" in judge_unchecked(config, "pairwise-1-10", judge)
    record_check(program.parent, CheckRecord(scheme="pairwise-1-10", judge=judge, target="t", status="passed", line="ok", source="s"))
    assert judge_unchecked(config, "pairwise-1-10", judge) is None
    assert len(json.loads((program.parent / "calibrations.json").read_text())["checks"]) == 1  # the latest per scheme and judge


def test_unverified_figures_say_so(program, tmp_path):
    from eval_helpers import fakes

    from codeclm.evaluation import evaluate

    bench = write_bench(tmp_path)
    common = dict(program=program, field="prompt", overrides=["judging.scheme=pairwise-1-10"], lms=fakes(), bootstrap=50)
    labelled = evaluate(str(bench), "target", "strong", out=tmp_path / "a.jsonl", unverified=True, **common)
    assert any(w.startswith("UNVERIFIED: judge") for w in labelled.warnings)
    assert any("UNVERIFIED" in w for w in json.loads((tmp_path / "a.summary.json").read_text())["warnings"])
