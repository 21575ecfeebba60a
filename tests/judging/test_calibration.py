"""Calibration: pairs with a known better answer, figures, the cache, and the stop-on-chance-judge path."""

import json

import pytest
from fakes import ScriptedLM, field_value
from helpers import positional_pairwise, preference

from codeclm.config import load_config
from codeclm.errors import JudgeCalibrationError
from codeclm.judging.calibration import evaluate, require_passed
from codeclm.judging.pairs import REFUSAL, build_pairs, truncate
from codeclm.judging.scales import SCALES
from codeclm.judging.schemes import make_judge
from codeclm.run import run
from codeclm.templates import PromptLibrary

LONG = "Paris is the capital of France; it lies on the Seine and has been the seat of government for centuries."
ANSWERS = {f"Question {i}?": f"Answer {i}: " + LONG for i in range(3)}


def test_pairs_hold_truncated_off_topic_refusal_and_empty_answers():
    pairs = build_pairs(list(ANSWERS), list(ANSWERS.values()))
    assert [p.kind for p in pairs] == ["truncated", "off_topic", "refusal", "truncated", "off_topic", "empty", "truncated", "off_topic", "refusal"]
    first = pairs[0]
    assert first.better == ANSWERS["Question 0?"] and first.worse == truncate(first.better) and len(first.worse.split()) == 4
    assert pairs[1].worse == ANSWERS["Question 1?"] and pairs[2].worse == REFUSAL and pairs[5].worse == ""


def test_short_answers_are_not_truncated_and_one_seed_is_not_enough():
    assert [p.kind for p in build_pairs(["a?", "b?"], ["Yes.", "No."])] == ["off_topic", "refusal", "off_topic", "empty"]
    with pytest.raises(ValueError, match="at least two seeds"):
        build_pairs(["a?"], ["Yes."])


def judge_on(root, scheme, answer):
    return make_judge(scheme, PromptLibrary(root / "prompts").render(SCALES[scheme].template), ScriptedLM(lambda step, messages: answer(messages)))


def strong_of(messages):
    """Stands in for a judge that recognizes the complete, on-topic answer as A."""
    return field_value(messages, "answer_a") in (ANSWERS.get(field_value(messages, "instruction")), LONG)


def test_a_positional_judge_is_at_chance_and_stops_with_the_fix(root):
    pairs = build_pairs(list(ANSWERS), list(ANSWERS.values()))
    report = evaluate(judge_on(root, "pairwise-1-10", positional_pairwise), pairs)
    assert (report.correct, report.accuracy, report.position_bias, report.order_consistency) == (0, 0.0, 1.0, 0.0)
    assert report.by_kind == {"empty": "0/1", "off_topic": "0/3", "refusal": "0/2", "truncated": "0/3"} and not report.passed
    with pytest.raises(JudgeCalibrationError, match=r"0/9 .*chance 50%.*logprob-pairwise.*stronger judge model"):
        require_passed(report)


def test_a_discriminating_logprob_judge_passes_with_its_figures(root):
    pairs = build_pairs(list(ANSWERS), list(ANSWERS.values()))
    answer = lambda m: preference(0.2 if not strong_of(m) else 0.9)(m)  # noqa: E731
    report = evaluate(judge_on(root, "logprob-pairwise", answer), pairs)
    assert report.passed and report.accuracy == 1.0 and report.threshold == 0.1
    assert report.order_consistency == 1.0 and report.position_bias == 0.5 and report.above_threshold == 1.0
    assert "9/9 correct (100%)" in report.line() and "necessary, not sufficient" in report.line()


# ---- through a run: calibration first, cached, figures in the summary ------------------------

def program_script(judge):
    def script(step, messages):
        if step == "encode":
            return {"use_case": "geography", "skills": ["facts"]}
        if step == "decode":
            return {"new_instructions": ["Name a river in Paris.", "Name a city in France."]}
        if step == "rubrics":
            return {"rubrics": ["rare facts"], "actions": ["ask for rare facts"]}
        if step == "improve":
            return {"improved_instruction": field_value(messages, "instruction") + " Explain."}
        if step == "respond":
            return {"response": LONG}
        return judge(messages)

    return script


def target():
    return ScriptedLM(lambda step, messages: {"response": "Maybe."}, model="fake/target")


@pytest.fixture
def config(root, tmp_path, monkeypatch):
    monkeypatch.setenv("CODECLM_CACHE_DIR", str(tmp_path / "cache"))
    return load_config(root / "programs" / "codeclm.yaml", ["num_metadata=1", "max_iterations=1", "seeds.limit=3", "concurrency=1"])


def test_run_stops_before_filtering_when_the_judge_is_at_chance(config, tmp_path):
    config = config.model_copy(update={"judging": config.judging.model_copy(update={"scheme": "pairwise-1-10"}), "theta": 3.0})
    strong = ScriptedLM(program_script(positional_pairwise))
    with pytest.raises(JudgeCalibrationError, match="pairwise-1-10"):
        run(config, output=str(tmp_path / "out.jsonl"), lms={"strong": strong, "target": target()})
    out = tmp_path / "out.jsonl"
    assert "encode" not in strong.steps() and (not out.exists() or not out.read_text().strip())


def test_run_reports_calibration_beside_counts_and_records_name_the_scheme(config, tmp_path):
    config = config.model_copy(update={"judging": config.judging.model_copy(update={"scheme": "logprob-pairwise"}), "theta": 0.1})
    judge = lambda m: preference(0.9 if strong_of(m) else 0.1)(m)  # noqa: E731
    strong = ScriptedLM(program_script(judge))
    summary = run(config, output=str(tmp_path / "out.jsonl"), lms={"strong": strong, "target": target()})
    rows = summary["extra_rows"]
    assert rows["judge scheme"].startswith("logprob-pairwise (theta 0.1") and "passed" in rows["judge calibration"]
    assert "gross defects only" in rows["judge note"] and summary["judge"]["calibration"]["accuracy"] == 1.0
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert records and all(r["judge"]["scheme"] == "logprob-pairwise" and len(r["judge"]["orders"]) == 2 for r in records)
    # A second run reuses the stored calibration: no calibration pairs are judged again.
    strong2 = ScriptedLM(program_script(judge))
    summary2 = run(config, output=str(tmp_path / "out2.jsonl"), lms={"strong": strong2, "target": target()})
    assert summary2["judge"]["calibration"]["cached"] is True
    assert strong2.steps().count("judge") == 2 * len(records)


def test_judge_check_subcommand_is_wired():
    from codeclm.cli import build_parser

    args = build_parser().parse_args(["judge", "check", "programs/codeclm.yaml", "--all", "--no-cache", "--set", "seeds.limit=3"])
    assert args.all and args.no_cache and args.set == ["seeds.limit=3"] and args.func.__name__ == "_cmd_judge_check"


def test_logprobs_survive_the_engine_cache_round_trip():
    from codeclm.engine.lm import _from_cache, _to_dict
    from codeclm.judging.logprobs import token_logprobs
    from fakes import logprob_tokens
    import litellm

    content = logprob_tokens("[[ ## preferred ## ]]\nA", "A", {"A": -0.2, "B": -1.7})
    response = litellm.ModelResponse(choices=[{"index": 0, "message": {"role": "assistant", "content": "x"}, "logprobs": {"content": content}}])
    again = _from_cache(_to_dict(response))
    assert token_logprobs(again.choices[0].logprobs) == token_logprobs(response.choices[0].logprobs)
