"""Eval resume: a stored judgment is reused only when everything that shaped it matches; a corrupt
earlier file is one line naming file:line and the fix (exit 2), and the file is left as it was.
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json
import re
import shutil

import pytest
from eval_helpers import SCORES, fakes, run_eval, write_bench

from codeclm.cli import main
from codeclm.evaluation import EvalFileError


@pytest.fixture
def bench(tmp_path):
    return write_bench(tmp_path)


def edited_prompts(root, tmp_path, template):
    folder = tmp_path / "prompts"
    shutil.copytree(root / "prompts", folder)
    (folder / f"{template}.jinja").write_text((folder / f"{template}.jinja").read_text() + "\nBe fair.\n")
    return [f"prompts={folder}"]


CHANGES = {
    "judge template": lambda root, tmp: (edited_prompts(root, tmp, "judge"), {}),
    "respond template": lambda root, tmp: (edited_prompts(root, tmp, "respond"), {}),
    "answering settings": lambda root, tmp: (["answering.temperature=0.2"], {}),
    "judge sampling": lambda root, tmp: (["judging.max_tokens=100"], {}),
    "scheme": lambda root, tmp: (["judging.scheme=logprob-pairwise"], {}),
    "judge model": lambda root, tmp: ([], {"judge_model": "fake/other-judge"}),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_that_shapes_verdicts_judges_every_stored_item_again(root, bench, tmp_path, change):
    first = run_eval(root, bench, tmp_path, "paper")
    overrides, fake_options = CHANGES[change](root, tmp_path)
    lms = fakes(**fake_options)
    again = run_eval(root, bench, tmp_path, "paper", lms, overrides=overrides)
    assert len(lms["judge"].calls) >= len(SCORES) and len(lms["candidate"].calls) == len(SCORES)
    assert (again.reused, again.judged_again) == (0, len(SCORES))
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert all(row["settings"] == again.settings != first.settings for row in rows)  # replaced, not mixed


@pytest.mark.parametrize("role", ["candidate", "reference"])
def test_another_candidate_or_reference_model_judges_again(root, bench, tmp_path, role):
    run_eval(root, bench, tmp_path, "paper")
    lms = fakes()
    lms[role] = type(lms[role])(lms[role].script, model=f"fake/{role}-v2")
    again = run_eval(root, bench, tmp_path, "paper", lms)
    assert again.judged_again == len(SCORES) and lms["judge"].calls


def test_an_item_whose_instruction_changed_is_judged_again(root, bench, tmp_path):
    run_eval(root, bench, tmp_path, "paper")
    rows = [json.loads(line) for line in bench.read_text().splitlines()]
    rows[0]["prompt"] = "tie both"  # same id q0, another instruction
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lms = fakes()
    again = run_eval(root, bench, tmp_path, "paper", lms)
    assert (again.reused, again.judged_again) == (4, 1) and len(lms["candidate"].calls) == 1
    assert again.items[0].outcome == "tie"


def test_failed_items_are_asked_again(root, bench, tmp_path):
    run_eval(root, bench, tmp_path, "paper", fakes(candidate_fails={"win both"}))
    lms = fakes()
    again = run_eval(root, bench, tmp_path, "paper", lms)
    assert again.reused == 4 and again.overall.failed == 0 and again.items[0].outcome == "win"


def cli_eval(root, bench, out):
    return main(["eval", "--benchmark", str(bench), "--field", "prompt", "--candidate", "target",
                 "--program", str(root / "programs" / "codeclm.yaml"), "--out", str(out),
                 "--set", "judging.scheme=pairwise-1-10", "--set", "cache.enabled=false",
                 "--set", "models.strong={model: dead, api_base: 'http://127.0.0.1:9/v1', max_tries: 1}",
                 "--set", "models.target={model: dead, api_base: 'http://127.0.0.1:9/v1', max_tries: 1}"])


@pytest.mark.parametrize("corrupt, message", [
    (lambda lines: lines[:2] + ["{not json"] + lines[2:], r"out\.jsonl:3: not a JSON line"),
    (lambda lines: lines[:1] + ['{"id": "q1", "instruction": "x"}'] + lines[2:], r"out\.jsonl:2: not an eval judgment \(category: Field required\)"),
    (lambda lines: lines[:1] + ['["a list"]'] + lines[2:], r"out\.jsonl:2: not a JSON object"),
])
def test_a_corrupt_earlier_file_is_one_line_exit_2_and_left_intact(root, bench, tmp_path, capsys, corrupt, message):
    out = tmp_path / "out.jsonl"
    run_eval(root, bench, tmp_path, "paper")
    out.write_text("\n".join(corrupt(out.read_text().splitlines())) + "\n")
    before, summary = out.read_bytes(), (tmp_path / "out.summary.json").read_bytes()
    with pytest.raises(EvalFileError, match=message + r".*fix or delete that line"):
        run_eval(root, bench, tmp_path, "paper")
    capsys.readouterr()
    assert cli_eval(root, bench, out) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 1 and re.search(message, " ".join(err.split()))
    assert out.read_bytes() == before and (tmp_path / "out.summary.json").read_bytes() == summary


def test_an_unfinished_last_line_is_reported_not_cut(root, bench, tmp_path):
    out = tmp_path / "out.jsonl"
    run_eval(root, bench, tmp_path, "paper")
    out.write_text(out.read_text() + '{"id": "q9", "categ')
    before = out.read_bytes()
    with pytest.raises(EvalFileError, match=r"out\.jsonl:6: not a JSON line"):
        run_eval(root, bench, tmp_path, "paper")
    assert out.read_bytes() == before
