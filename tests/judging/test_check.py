"""The filter check: decisions at the threshold on items whose right decision is known; no trivial pass;
the run stops before filtering when it fails, naming a fix that is not the failed scheme.
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json

import pytest
from fakes import ScriptedLM, word_scores

from codeclm.config import load_config
from codeclm.errors import JudgeCalibrationError
from codeclm.judging.check import report, run_check, wilson
from codeclm.judging.checkset import CheckItem, load_check_items, solved
from codeclm.judging.target_loss import TargetLossJudge
from codeclm.run import manifest_path, run
from codeclm.templates import PromptLibrary


def test_wilson_lower_bound_of_five_of_six_is_a_coin_toss():
    low, high = wilson(5, 6)
    assert round(low, 2) == 0.44 and round(high, 2) == 0.97
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_checker_reads_numbers_and_words_but_not_numbers_copied_from_the_question():
    item = CheckItem(id="a", instruction="What is 144 divided by 12?", answer="12", expect={"number": 12})
    assert solved(item, "144 divided by 12 equals 12.") and not solved(item, "144 divided by 12 equals 1.667")
    spider = CheckItem(id="b", instruction="How many legs does a spider have?", answer="eight", expect={"number": 8})
    assert solved(spider, "A spider has eight legs.")
    upper = CheckItem(id="c", instruction="Write 'banana' in capitals.", answer="BANANA", expect={"any": ["BANANA"]})
    assert solved(upper, "BANANA") and not solved(upper, "Banana")


def test_the_bundled_set_has_a_held_out_split_of_at_least_24_items():
    check, dev = load_check_items(split="check"), load_check_items(split="dev")
    assert len(check) >= 24 and dev and not {i.id for i in check} & {i.id for i in dev}
    assert all(solved(i, i.answer) for i in check + dev)  # every strong answer is itself correct


# ---- items whose right decision the fake target decides: even items it solves, odd ones it fails --------

ITEMS = [CheckItem(id=f"i{n}", family="even" if n % 2 == 0 else "odd", instruction=f"Task {n}?",
                   answer=f"The answer is ans{n} indeed.", expect={"any": [f"ans{n}"]}) for n in range(30)]


def target_answers(instruction, key):
    from codeclm.guards import Answer

    n = int(instruction.split()[1].rstrip("?"))
    return Answer(text=f"It is ans{n}." if n % 2 == 0 else "No idea.")


def judge_by(loss_of):
    """A target-loss judge whose target gives each answer token the loss `loss_of(n)`."""
    def logprob(text, token):
        n = int(text.split("Task ")[1].split("?")[0])
        return -loss_of(n)

    prompt = PromptLibrary("prompts").render("respond")
    return TargetLossJudge(prompt, ScriptedLM(lambda s, m: "", scorer=word_scores(logprob)))


def test_a_signal_that_tells_the_decisions_apart_passes_with_n_and_interval():
    result = run_check(judge_by(lambda n: 0.1 if n % 2 == 0 else 2.0), target_answers, ITEMS, theta=0.45, min_accuracy=0.7)
    assert result.passed and (result.correct, result.items) == (30, 30) and result.ci_low > 0.88
    assert result.by_decision == {"keep": "15/15", "send_back": "15/15"} and result.by_family == {"even": "15/15", "odd": "15/15"}
    assert "30/30 right at theta 0.45" in result.line() and "95% CI" in result.line()


@pytest.mark.parametrize("loss", [lambda n: 3.0, lambda n: 0.0])
def test_a_constant_signal_cannot_pass(loss):
    result = run_check(judge_by(loss), target_answers, ITEMS, theta=0.45, min_accuracy=0.5)
    assert not result.passed and result.accuracy == 0.5 and "decisions 0% right" in result.verdict


def test_too_few_items_of_one_decision_is_inconclusive_not_a_pass():
    easy = [CheckItem(id=f"e{n}", family="even", instruction=f"Task {2 * n}?", answer=f"ans{2 * n}",
                      expect={"any": [f"ans{2 * n}"]}) for n in range(26)] + ITEMS[1:6:2]
    result = run_check(judge_by(lambda n: 0.1 if n % 2 == 0 else 2.0), target_answers, easy, theta=0.45, min_accuracy=0.5)
    assert result.accuracy == 1.0 and not result.passed and result.verdict.startswith("inconclusive")


def test_failed_items_count_as_wrong():
    results = run_check(judge_by(lambda n: 0.1 if n % 2 == 0 else 2.0), target_answers, ITEMS, theta=0.45, min_accuracy=0.7).results
    broken = [r.model_copy(update={"decided": None, "error": "judge: HTTP 500"}) if i < 10 else r for i, r in enumerate(results)]
    again = report("target-loss", "j", "t", broken, 0.45, 0.7, 0.1)
    assert again.correct == 20 and again.failed == 10 and again.accuracy == pytest.approx(2 / 3)


# ---- through a run -------------------------------------------------------------------------------------

def program_script(step, messages):
    from fakes import field_value

    if step == "encode":
        return {"use_case": "geography", "skills": ["facts"]}
    if step == "decode":
        return {"new_instructions": ["Name a river in Paris.", "Name a city in France."]}
    if step == "rubrics":
        return {"rubrics": ["rare facts"], "actions": ["ask for rare facts"]}
    if step == "improve":
        return {"improved_instruction": field_value(messages, "instruction") + " Explain."}
    return {"response": "The Seine flows through Paris and on to the sea."}


def target_script(step, messages):
    from fakes import field_value

    text = field_value(messages, "instruction")
    n = int(text.split()[1].rstrip("?")) if text.startswith("Task ") else 1
    return {"response": f"It is ans{n}." if n % 2 == 0 else "No idea."}


@pytest.fixture
def items_file(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text("".join(i.model_dump_json() + "\n" for i in ITEMS))
    return path


def config_with(root, items_file, *more):
    return load_config(root / "programs" / "codeclm.yaml", ["num_metadata=1", "max_iterations=1", "seeds.limit=2",
                                                              f"judging.check.items={items_file}", "cache.enabled=false", *more])


def lms(loss_of):
    def logprob(text, token):
        if "Task " in text:
            n = int(text.split("Task ")[1].split("?")[0])
            return -loss_of(n)
        return -2.0  # pipeline answers: hard for the target

    return {"strong": ScriptedLM(program_script), "target": ScriptedLM(target_script, scorer=word_scores(logprob))}


def test_a_failing_check_stops_the_run_before_filtering_and_loses_nothing(root, items_file, tmp_path):
    out = tmp_path / "out.jsonl"
    first = run(config_with(root, items_file, "judging.check.enabled=false"), output=str(out), lms=lms(lambda n: 0.1))
    before = out.read_text()
    assert first["kept"] == 2 and "unchecked" in first["extra_rows"]["filter check"]
    models = lms(lambda n: 3.0)  # says "hard" to everything: the check must catch it
    with pytest.raises(JudgeCalibrationError) as caught:
        run(config_with(root, items_file), output=str(out), lms=models, extend=True)
    message = str(caught.value)
    assert "target-loss decided 15/30" in message and "95% CI" in message and "\n" not in message
    fix = message.split("Fix: ")[1]
    assert "target-loss" not in fix.split(" (")[0] and "models.judge" in fix  # a fix that is not the failed scheme
    assert out.read_text() == before and "encode" not in models["strong"].steps()
    assert json.loads(manifest_path(out).read_text())["status"].startswith("stopped: JudgeCalibrationError")


def test_a_passing_check_is_in_the_summary_and_manifest(root, items_file, tmp_path):
    out = tmp_path / "out.jsonl"
    summary = run(config_with(root, items_file), output=str(out), lms=lms(lambda n: 0.1 if n % 2 == 0 else 2.0))
    assert summary["kept"] == 2 and "30/30 right at theta 1" in summary["extra_rows"]["filter check"]
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["judge"]["check"]["passed"] and manifest["judge"]["check"]["ci_low"] > 0.88
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["judge"]["scheme"] == "target-loss" and r["target_response"] is None for r in records)


def test_judge_check_subcommand_is_wired():
    from codeclm.cli import build_parser

    args = build_parser().parse_args(["judge", "check", "programs/codeclm.yaml", "--all", "--no-cache", "--split", "dev"])
    assert args.all and args.no_cache and args.split == "dev" and args.func.__name__ == "_cmd_judge_check"


def test_accuracy_above_min_but_a_wilson_bound_at_or_below_half_fails():
    """15 of 24 right (62.5%, each decision >= half right) passes min_accuracy 0.6, but its 95% Wilson lower bound
    (0.43) is not above 0.5: a coin could do that, so the check fails on the bound alone."""
    from codeclm.judging.check import ItemResult, report

    def item(n, right, correct):
        wrong = "send_back" if right == "keep" else "keep"
        return ItemResult(id=f"i{n}", family="f", right=right, decided=right if correct else wrong, gap=0.0)

    results = [item(n, "keep", n < 8) for n in range(12)] + [item(12 + n, "send_back", n < 7) for n in range(12)]
    checked = report("target-loss", "m", "t", results, theta=1.0, min_accuracy=0.6, seconds_per_item=0.0)
    assert checked.accuracy == 15 / 24 and checked.ci_low <= 0.5
    assert not checked.passed and checked.verdict == f"FAILED (95% lower bound {checked.ci_low:.2f} <= 0.5)"
