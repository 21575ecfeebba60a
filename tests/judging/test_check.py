"""The filter check: the filter's own path (guards, signal, decision) on items whose right decision is known;
no trivial pass (a coin, a constant or a length rule); guards measured; a strong target is told, not refused;
the run stops before filtering when the check fails; the real local models are in test_check_cassette.py.
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers, a scripted target-loss scorer), no server.
"""

import json

import pytest
from fakes import ScriptedLM, word_scores

from codeclm.models.config import load_config
from codeclm.errors import JudgeCalibrationError
from codeclm.steps.guards import Answer, check
from codeclm.check.grading import Case, report, run_check, wilson
from codeclm.check.cases import CheckItem, load_check_items, solved
from codeclm.judging.schemes import make_judge
from codeclm.run import manifest_path, run
from codeclm.steps.contrast import ContrastiveFilter
from codeclm.prompting.templates import PromptLibrary


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


def test_the_bundled_quiz_set_has_a_held_out_split_of_at_least_24_items():
    check_, dev = load_check_items(split="check"), load_check_items(split="dev")
    assert len(check_) >= 24 and dev and not {i.id for i in check_} & {i.id for i in dev}
    assert all(solved(i, i.answer) for i in check_ + dev)  # every strong answer is itself correct


# ---- cases with answers: even tasks the target does as well (send back), odd ones it cannot (keep) --------

def answer(text: str, finish: str = "stop") -> Answer:
    return Answer(text=text, finish_reason=finish, guard=check(text, finish))


def case(n: int, label: str | None = None, instruction: str | None = None, strong: str | None = None, split="check") -> Case:
    label = label or ("send_back" if n % 2 == 0 else "keep")
    return Case(id=f"{split}{n}", family="even" if n % 2 == 0 else "odd", instruction=instruction or f"Task {n}?",
                strong=answer(strong or f"The answer is ans{n} indeed."), target=answer(f"It is ans{n}."), label=label,
                use_case="tasks")


CASES = [case(n) for n in range(30)]
DEV = [case(n, split="dev") for n in range(30)]


def filter_by(loss_of):
    """The product's ContrastiveFilter with a target-loss judge whose target gives answer tokens `loss_of(n)`."""
    def logprob(text, token):
        n = int(text.split("Task ")[1].split("?")[0]) if "Task " in text else 0
        return -loss_of(n)

    judge = make_judge("target-loss", PromptLibrary("prompts").render("respond"), ScriptedLM(lambda s, m: "", scorer=word_scores(logprob)))
    return ContrastiveFilter(None, None, judge)  # answers are given: nothing is asked


def test_a_signal_that_tells_the_decisions_apart_passes_with_n_interval_and_baseline():
    result = run_check(filter_by(lambda n: 0.1 if n % 2 == 0 else 2.0), CASES, theta=0.45, min_accuracy=0.7, dev=DEV)
    assert result.passed and (result.correct, result.items) == (30, 30) and result.ci_low > 0.88
    assert result.by_decision == {"keep": "15/15", "send_back": "15/15"} and result.by_family == {"even": "15/15", "odd": "15/15"}
    assert result.baseline["check_accuracy"] == 0.5 and result.baseline["difference_ci"][0] > 0  # lengths say nothing here
    assert "30/30 right at theta 0.45" in result.line() and "95% CI" in result.line() and "best trivial rule" in result.line()


@pytest.mark.parametrize("loss", [lambda n: 3.0, lambda n: 0.0])
def test_a_constant_signal_cannot_pass(loss):
    result = run_check(filter_by(loss), CASES, theta=0.45, min_accuracy=0.5, dev=DEV)
    assert not result.passed and result.accuracy == 0.5 and "decisions 0% right" in result.verdict


def test_a_signal_no_better_than_a_length_rule_fails():
    """Keep items have long strong answers: the signal is right, but so is 'strong answer words > x'."""
    def long_if_keep(n, split):
        return case(n, split=split, strong=f"The answer is ans{n}, " + ("and here is why " * 8 if n % 2 else ""))

    cases, dev = [long_if_keep(n, "check") for n in range(30)], [long_if_keep(n, "dev") for n in range(30)]
    result = run_check(filter_by(lambda n: 0.1 if n % 2 == 0 else 2.0), cases, theta=0.45, min_accuracy=0.7, dev=dev)
    assert result.accuracy == 1.0 and not result.passed and "no better than the trivial rule" in result.verdict
    assert result.baseline["check_accuracy"] == 1.0


def test_trivial_rules_use_case_majority_and_threshold_fit():
    from codeclm.check.baselines import fit_threshold, majority_by_use_case

    rule = majority_by_use_case(["keep", "keep", "send_back", "send_back", "send_back", "keep", "keep"],
                                ["code", "code", "code", "math", "math", "chat", "chat"])
    assert [rule(u) for u in ("code", "math", "chat", "unseen")] == ["keep", "send_back", "keep", "keep"]
    assert fit_threshold([1, 2, 8, 9], ["send_back", "send_back", "keep", "keep"]) == (5.0, 1, 1.0)
    assert fit_threshold([1, 2, 8, 9], ["keep", "keep", "send_back", "send_back"]) == (5.0, -1, 1.0)


def test_guards_drop_invalid_instructions_and_bad_answers_and_are_counted():
    bad = [case(100, "invalid", instruction="Summarize the following paragraph in one sentence. Task 100?"),
           case(101, "bad_answer", strong="I'm sorry, but as an AI language model I cannot do Task 101."),
           case(102, "bad_answer", strong="Cut off in the mid"),
           case(103, "bad_answer")]  # a wrong answer no guard sees: decided like any other
    bad[2].strong = answer("Cut off in the mid", "length")
    result = run_check(filter_by(lambda n: 0.1 if n % 2 == 0 else 2.0), CASES + bad, theta=0.45, min_accuracy=0.7, dev=DEV)
    assert result.guards == {"invalid dropped": "1/1", "bad_answer dropped": "2/3", "valid items dropped by a guard": "0/30"}
    assert result.kept_unusable == "1/16" and result.items == 30  # the unguarded bad answer is kept: counted, not hidden
    reasons = {r.id: r.reason for r in result.results}
    assert reasons["check100"] == "instruction missing input" and reasons["check101"] == "strong answer refusal"


def test_too_few_items_of_one_decision_is_inconclusive_not_a_pass():
    few = CASES[:20] + [case(n, "keep") for n in range(31, 37, 2)]  # 10 send back, 13 keep: 23 items
    result = run_check(filter_by(lambda n: 0.1 if n % 2 == 0 else 2.0), few, theta=0.45, min_accuracy=0.5)
    assert result.accuracy == 1.0 and not result.passed and result.verdict.startswith("inconclusive")


def test_a_target_that_does_nearly_everything_is_told_so_not_refused():
    from codeclm.check.program import require_passed

    strong_target = [case(n, "send_back") for n in range(28)] + [case(n, "keep") for n in (101, 103)]
    result = run_check(filter_by(lambda n: 0.1), strong_target, theta=0.45, min_accuracy=0.7)
    assert result.status == "target_strong" and not result.passed and "nearly every instruction will be too easy" in result.verdict
    assert require_passed(result) is result  # the run goes on


def test_failed_items_count_as_wrong():
    results = run_check(filter_by(lambda n: 0.1 if n % 2 == 0 else 2.0), CASES, theta=0.45, min_accuracy=0.7).results
    broken = [r.model_copy(update={"decided": None, "error": "judge: HTTP 500"}) if i < 10 else r for i, r in enumerate(results)]
    again = report("target-loss", "j", "t", broken, 0.45, 0.7, 0.1)
    assert again.correct == 20 and again.failed == 10 and again.accuracy == pytest.approx(2 / 3)


# ---- through a run -------------------------------------------------------------------------------------

ITEMS = [CheckItem(id=f"i{n}", family="tasks", instruction=f"Task {n}?",  # one family: the category rule learns nothing
                   answer=f"The answer is ans{n} indeed.", expect={"any": [f"ans{n}"]}, split=split)
         for split in ("check", "dev") for n in range(30)]


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


def target_script(step, messages, solves=lambda n: n % 2 == 0):
    from fakes import field_value

    text = field_value(messages, "instruction")
    n = int(text.split()[1].rstrip("?")) if text.startswith("Task ") else 1
    return {"response": f"It is ans{n}." if solves(n) else f"It is nan{n}."}  # same length: a length rule learns nothing


@pytest.fixture
def items_file(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text("".join(i.model_dump_json() + "\n" for i in ITEMS))
    return path


def config_with(root, items_file, *more):
    return load_config(root / "programs" / "codeclm.yaml", ["num_metadata=1", "max_iterations=1", "seeds.limit=2", "theta=1.0",
                                                              f"judging.check.items={items_file}", "cache.enabled=false", *more])


def lms(loss_of, solves=lambda n: n % 2 == 0):
    def logprob(text, token):
        if "Task " in text:
            n = int(text.split("Task ")[1].split("?")[0])
            return -loss_of(n)
        return -loss_of(-1)  # pipeline answers

    return {"strong": ScriptedLM(program_script),
            "target": ScriptedLM(lambda s, m: target_script(s, m, solves), scorer=word_scores(logprob))}


def test_a_failing_check_stops_the_run_before_filtering_and_loses_nothing(root, items_file, tmp_path):
    out = tmp_path / "out.jsonl"
    first = run(config_with(root, items_file, "judging.check.enabled=false"), output=str(out), lms=lms(lambda n: 2.0))
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
    assert manifest["judge"]["check"]["baseline"]["difference_ci"][0] > 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["judge"]["scheme"] == "target-loss" and r["target_response"] is None for r in records)


def test_a_strong_target_runs_and_sends_everything_back(root, items_file, tmp_path, capsys):
    """The strong model as its own target: the check says nearly everything is too easy; the run does what the paper
    would (send back, improve, drop at the cap), with one line saying so."""
    from rich.console import Console

    out = tmp_path / "out.jsonl"
    console = Console(file=open(tmp_path / "console.txt", "w"), width=300)
    summary = run(config_with(root, items_file, "max_iterations=2"), output=str(out), console=console,
                  lms=lms(lambda n: 0.1, solves=lambda n: True))
    console.file.close()
    said = (tmp_path / "console.txt").read_text()
    assert summary["judge"]["check"]["status"] == "target_strong" and "The target is strong" in said
    assert summary["kept"] == 0 and summary["dropped"] == 2
    dropped = [json.loads(line) for line in (tmp_path / "out.dropped.jsonl").read_text().splitlines()]
    assert all(d["iteration"] == 2 and "after 2 iterations" in d["reason"] for d in dropped)


def test_judge_check_and_calibrate_subcommands_are_wired():
    from codeclm.cli import build_parser

    args = build_parser().parse_args(["judge", "check", "programs/codeclm.yaml", "--all", "--no-cache", "--split", "dev"])
    assert args.all and args.no_cache and args.split == "dev" and args.func.__name__ == "_cmd_judge_check"
    args = build_parser().parse_args(["judge", "calibrate", "programs/codeclm.yaml", "--items", "x.jsonl"])
    assert args.items == "x.jsonl" and args.func.__name__ == "_cmd_judge_calibrate"


def test_a_passed_check_is_paid_once_per_target_scheme_and_theta(root, items_file, tmp_path):
    """A second run (another output, same target, scheme, theta, templates and items) reuses the recorded check;
    another theta, or the cache turned off, checks again."""
    def checked(models):
        return sum("Task " in text for text in models["target"].scored)

    common = [f"cache.path={tmp_path / 'calls.sqlite'}", "cache.enabled=true"]
    first = lms(lambda n: 0.1 if n % 2 == 0 else 2.0)
    run(config_with(root, items_file, *common), output=str(tmp_path / "a.jsonl"), lms=first)
    again = lms(lambda n: 0.1 if n % 2 == 0 else 2.0)
    summary = run(config_with(root, items_file, *common), output=str(tmp_path / "b.jsonl"), lms=again)
    assert checked(first) == 30 and checked(again) == 0 and summary["judge"]["check"]["passed"]
    other = lms(lambda n: 0.1 if n % 2 == 0 else 2.0)
    run(config_with(root, items_file, *common, "theta=0.9"), output=str(tmp_path / "c.jsonl"), lms=other)
    off = lms(lambda n: 0.1 if n % 2 == 0 else 2.0)
    run(config_with(root, items_file), output=str(tmp_path / "d.jsonl"), lms=off)
    assert checked(other) == 30 and checked(off) == 30


def test_accuracy_above_min_but_a_wilson_bound_at_or_below_half_fails():
    """15 of 24 right (62.5%, each decision >= half right) passes min_accuracy 0.6, but its 95% Wilson lower bound
    (0.43) is not above 0.5: a coin could do that, so the check fails on the bound alone."""
    from codeclm.check.grading import ItemResult, report

    def item(n, right, correct):
        wrong = "send_back" if right == "keep" else "keep"
        return ItemResult(id=f"i{n}", family="f", label=right, decided=right if correct else wrong, gap=0.0)

    results = [item(n, "keep", n < 8) for n in range(12)] + [item(12 + n, "send_back", n < 7) for n in range(12)]
    checked = report("target-loss", "m", "t", results, theta=1.0, min_accuracy=0.6, seconds_per_item=0.0)
    assert checked.accuracy == 15 / 24 and checked.ci_low <= 0.5
    assert not checked.passed and checked.verdict == f"FAILED (95% lower bound {checked.ci_low:.2f} <= 0.5)"


def test_the_strong_model_as_its_own_target_is_told_and_every_instruction_goes_back(root, items_file, tmp_path):
    """Target and strong are one model: no check item is graded (every decision is "send back" by construction), an
    uncalibrated theta is no reason to refuse, the target is never asked to score, and each instruction is improved
    and dropped at the cap, with one line saying why the output is empty."""
    from rich.console import Console

    def never(step, messages):
        raise AssertionError(f"the target was asked ({step}) though it is the strong model")

    out = tmp_path / "out.jsonl"
    console = Console(file=open(tmp_path / "console.txt", "w"), width=300)
    strong = ScriptedLM(program_script)
    config = load_config(root / "programs" / "codeclm.yaml", ["num_metadata=1", "max_iterations=2", "seeds.limit=2", "cache.enabled=false",
                                                              "models.target={local: qwen2.5-coder-1.5b-instruct}"])
    assert config.theta_source == "uncalibrated"  # no calibration for this target: a run would refuse any other target
    summary = run(config, output=str(out), console=console, lms={"strong": strong, "target": ScriptedLM(never)})
    console.file.close()
    said = " ".join((tmp_path / "console.txt").read_text().split())
    check_row = summary["judge"]["check"]
    assert check_row["status"] == "target_strong" and check_row["items"] == 0 and "is the strong model itself" in check_row["verdict"]
    assert "The target is the strong model itself (local:qwen2.5-coder-1.5b-instruct)" in said and "Choose a weaker target" in said
    assert summary["kept"] == 0 and summary["dropped"] == 2 and "improve" in strong.steps()
    dropped = [json.loads(line) for line in (tmp_path / "out.dropped.jsonl").read_text().splitlines()]
    assert all(d["iteration"] == 2 and "after 2 iterations" in d["reason"] for d in dropped)
    assert all(h["gap"] == 0.0 for d in dropped for h in d["history"])


def test_judge_check_on_the_strong_model_as_its_own_target_says_so_and_exits_0(root, tmp_path, monkeypatch, capsys):
    """`codeclm judge check` with one model in both roles (an endpoint nobody listens on: no call may be made)."""
    from codeclm.cli import main

    monkeypatch.setenv("CODECLM_CACHE_DIR", str(tmp_path))
    program = tmp_path / "p.yaml"
    program.write_text((root / "programs" / "codeclm.yaml").read_text().replace("prompts: ../prompts", f"prompts: {root / 'prompts'}"))
    same = "{model: my-model, api_base: 'http://127.0.0.1:9/v1', max_tries: 1, chat_template: chatml}"
    assert main(["judge", "check", str(program), "--set", f"models.strong={same}", "--set", f"models.target={same}"]) == 0
    captured = capsys.readouterr()
    said = " ".join((captured.out + captured.err).split())
    assert "my-model is the strong model itself, so every instruction is too easy by construction" in said
