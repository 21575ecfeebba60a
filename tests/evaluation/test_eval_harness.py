"""evaluate() on fake LMs: both orders judged, rule applied per item, per category; failures are losses.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json

import pytest
from eval_helpers import SCORES, fakes, run_eval, write_bench
from fakes import field_value

from codeclm.evaluation import BenchmarkError, load_benchmark
from codeclm.evaluation.display import print_report


@pytest.fixture
def bench(tmp_path):
    return write_bench(tmp_path)


def test_paper_rule_overall_and_per_category(root, bench, tmp_path):
    report = run_eval(root, bench, tmp_path, "paper")
    outcomes = {i.instruction: i.outcome for i in report.items}
    assert outcomes == {"win both": "win", "mixed win loss": "loss", "win and tie": "tie", "tie both": "tie", "lose both": "loss"}
    assert (report.overall.wins, report.overall.ties, report.overall.losses) == (1, 2, 2)
    assert report.crr == pytest.approx(3 / 5) and report.rule == "paper" and report.outcome_kind == "both_orders"
    by_cat = {t.category: t for t in report.per_category}
    assert by_cat["math"].crr == pytest.approx(1 / 2) and by_cat["writing"].crr == pytest.approx(2 / 3)
    assert report.ci_low <= report.crr <= report.ci_high
    assert report.judge_consistency.orders_agree == pytest.approx(3 / 5)


def test_the_default_rule_is_paper(root, bench, tmp_path):
    assert run_eval(root, bench, tmp_path).rule == "paper"


def test_alpagasus_rule_counts_mixed_outcomes_differently(root, bench, tmp_path):
    report = run_eval(root, bench, tmp_path, "alpagasus")
    assert (report.overall.wins, report.overall.ties, report.overall.losses) == (2, 2, 1)
    assert report.crr == pytest.approx(4 / 5)


def test_judge_sees_both_orders_at_temperature_zero(root, bench, tmp_path):
    lms = fakes()
    run_eval(root, bench, tmp_path, "paper", lms)
    calls = lms["judge"].calls
    assert len(calls) == 2 * len(SCORES)
    assert {c[2].get("temperature") for c in calls} == {0.0}
    firsts = {field_value(c[1], "answer_1").split(":")[0] for c in calls}
    assert firsts == {"candidate", "reference"}


def test_first_position_wins_counts_decisive_orders_won_by_the_answer_shown_first(root, bench, tmp_path):
    # decisive orders: win both 2 (first wins 1), mixed 2 (first 2: candidate first wins, reference first wins),
    # win and tie 1 (candidate first wins), lose both 2 (first 1): 5 of 7 won by the answer shown first
    report = run_eval(root, bench, tmp_path, "paper")
    assert report.judge_consistency.first_position_wins == pytest.approx(5 / 7)


def test_items_jsonl_and_resume_reapplies_another_rule_without_calls(root, bench, tmp_path):
    run_eval(root, bench, tmp_path, "paper")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in rows] == ["win", "loss", "tie", "tie", "loss"]
    assert rows[0]["verdict"]["orders"][0]["order"] == "strong_first"
    assert rows[0]["settings"]["scheme"] == "pairwise-1-10" and rows[0]["settings"]["models"]["judge"] == "fake/judge"
    assert (tmp_path / "out.summary.json").exists()
    lms = fakes()
    again = run_eval(root, bench, tmp_path, "alpagasus", lms)  # same settings: nothing asked again, rule re-applied
    assert lms["judge"].calls == [] and lms["candidate"].calls == []
    assert again.overall.wins == 2 and again.reused == 5 and again.judged_again == 0


def test_unparseable_judgment_is_a_failed_item_and_a_loss(root, bench, tmp_path):
    with bench.open("a") as f:
        f.write(json.dumps({"id": "bad", "prompt": "broken judge", "category": "math"}) + "\n")
    report = run_eval(root, bench, tmp_path, "paper")
    bad = next(i for i in report.items if i.id == "bad")
    assert bad.outcome == "loss" and bad.failed == "judge" and "judge" in bad.error
    assert (report.overall.items, report.overall.losses, report.overall.failed) == (6, 3, 1)
    assert report.crr == pytest.approx(3 / 6) and report.failures == {"judge": 1}


def test_a_candidate_that_fails_more_cannot_score_higher(root, bench, tmp_path):
    """Failing on the items it would lose must not lift a candidate's CRR (it did when failures left the denominator)."""
    answers_all = run_eval(root, bench, tmp_path, "paper", out="all.jsonl")
    dodges = run_eval(root, bench, tmp_path, "paper", fakes(candidate_fails={"lose both", "mixed win loss"}), out="dodges.jsonl")
    assert dodges.crr <= answers_all.crr
    assert dodges.crr == pytest.approx(3 / 5) and dodges.overall.failed == 2 and dodges.failures == {"candidate": 2}
    assert {i.instruction: (i.outcome, i.failed) for i in dodges.items if i.failed} == {
        "lose both": ("loss", "candidate"), "mixed win loss": ("loss", "candidate")}


def test_a_reference_that_cannot_answer_makes_a_failed_loss(root, bench, tmp_path):
    lms = fakes()
    lms["reference"] = fakes(candidate_fails={"win both"})["candidate"]  # "candidate: ..." answers, fails one item
    report = run_eval(root, bench, tmp_path, "paper", lms)
    assert report.failures == {"reference": 1} and next(i for i in report.items if i.failed).outcome == "loss"


def test_failures_are_reported_in_the_table(root, bench, tmp_path):
    from rich.console import Console

    report = run_eval(root, bench, tmp_path, "paper", fakes(candidate_fails={"win both"}))
    console = Console(record=True, width=200)
    print_report(report, console)
    text = console.export_text()
    assert "of which failed" in text and "failed: 1 items (candidate 1), counted as losses" in text


def test_judge_that_is_the_reference_is_flagged_in_report_and_summary(root, bench, tmp_path):
    from rich.console import Console

    lms = fakes()
    lms["judge"] = type(lms["judge"])(lms["judge"].script, model="fake/reference")  # the reference's model judges
    report = run_eval(root, bench, tmp_path, "paper", lms)
    assert report.judge_is_reference and not report.judge_is_candidate
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["judge_is_reference"] is True and "judges its own answers" in summary["warnings"][0]
    console = Console(record=True, width=300)
    print_report(report, console)
    assert "warning: the judge is also the reference" in console.export_text()
    other = run_eval(root, bench, tmp_path, "paper", out="other.jsonl")
    assert not other.judge_is_reference and other.warnings == []


def test_bundled_benchmarks_are_scored_on_their_test_split():
    name, vicuna = load_benchmark("vicuna")
    assert name == "vicuna" and len(vicuna) == 64 and vicuna[0].id == "2"  # row 0 is a seed
    assert len(load_benchmark("vicuna:all")[1]) == 80 and len(load_benchmark("benchmark:vicuna:seed")[1]) == 16
    _, test = load_benchmark("benchmark:self_instruct")
    _, seed = load_benchmark("self_instruct:seed")
    _, every = load_benchmark("self_instruct:all")
    assert (len(test), len(seed), len(every)) == (201, 51, 252)
    assert {i.id for i in test}.isdisjoint(i.id for i in seed) and {i.id for i in test} | {i.id for i in seed} == {i.id for i in every}
    assert len(load_benchmark("vicuna", limit=3)[1]) == 3


def test_bad_benchmarks(tmp_path):
    with pytest.raises(BenchmarkError, match="unknown benchmark 'koala'"):
        load_benchmark("koala")
    with pytest.raises(BenchmarkError, match=r"--benchmark vicuna:dev: unknown split 'dev'; use --benchmark vicuna \(its test split\)"):
        load_benchmark("vicuna:dev")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(BenchmarkError, match="empty benchmark file"):
        load_benchmark(str(empty))
    with pytest.raises(BenchmarkError, match="no field 'question'"):
        load_benchmark("vicuna", field="question")



def test_an_endpoint_failure_fails_its_item_and_a_dead_endpoint_stops_the_eval(root, bench, tmp_path):
    from fakes import ScriptedLM

    from codeclm.errors import EndpointError

    def flaky(fails):
        def script(step, messages):
            if field_value(messages, "instruction") in fails:
                raise EndpointError("connection refused")
            return {"response": f"candidate: {field_value(messages, 'instruction')}"}
        return ScriptedLM(script, "fake/candidate")

    report = run_eval(root, bench, tmp_path, "paper", {**fakes(), "candidate": flaky({"win both"})})
    assert report.failures == {"candidate": 1} and "connection refused" in report.items[0].error
    before = (tmp_path / "out.jsonl").read_bytes()
    with pytest.raises(EndpointError, match="items in a row failed on their endpoint"):
        run_eval(root, bench, tmp_path, "alpagasus", {**fakes(), "candidate": flaky(set(SCORES))})
    assert (tmp_path / "out.jsonl").read_bytes() == before


def test_a_local_logprob_judge_is_started_with_generation_logprobs(root, monkeypatch):
    """The judge's model must return logprobs even when the reference (same model) is bound first."""
    from codeclm.models import roles
    from codeclm.models.config import load_config
    from codeclm.evaluation.harness import bind, model_spec
    from codeclm.programs.session import open_program

    asked = {}

    def resolve(role, spec, stack, source, logprobs=False):
        asked[spec.label] = asked.get(spec.label, False) or logprobs
        return roles.ResolvedEndpoint(model=f"openai/{spec.label}", api_base="http://127.0.0.1:9/v1", api_key="x", label=spec.label)

    monkeypatch.setattr(roles, "resolve_endpoint", resolve)
    config = load_config(root / "programs" / "codeclm.yaml", ["cache.enabled=false"])
    specs = {role: model_spec(value, config) for role, value in (("candidate", "target"), ("reference", "strong"), ("judge", "judge"))}
    with open_program(config, lms={}) as session:
        bind(session, specs, "pointwise-logprob")
    target, judge = config.models.target.label, config.models.strong.label  # the shipped program's (the judge is the strong)
    assert target != judge and asked == {target: False, judge: True}


@pytest.mark.parametrize("args, message", [
    (["--scheme", "target-loss"], "--scheme target-loss: an eval needs a judge that compares two answers"),
    (["--benchmark", "vicuna:dev"], "--benchmark vicuna:dev: unknown split 'dev'"),
])
def test_bad_eval_options_are_one_line_exit_2(root, tmp_path, capsys, args, message):
    from codeclm.cli import main

    base = {"--benchmark": "vicuna", "--candidate": "target", "--program": str(root / "programs" / "codeclm.yaml"),
            "--out": str(tmp_path / "e.jsonl")}
    base.update(dict(zip(args[::2], args[1::2])))
    assert main(["eval", *[part for pair in base.items() for part in pair]]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err and not (tmp_path / "e.jsonl").exists()
