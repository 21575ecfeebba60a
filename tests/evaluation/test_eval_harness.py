"""evaluate() on fake LMs: both orders judged, rule applied per item, per category, errors marked per item."""

import json

import pytest
from fakes import ScriptedLM, field_value

from codeclm.evaluation import BenchmarkError, evaluate, load_benchmark

# instruction -> (candidate score, reference score) when the candidate is shown first / second
SCORES = {
    "win both": [(8, 5), (9, 4)],
    "mixed win loss": [(8, 5), (4, 7)],
    "win and tie": [(8, 5), (6, 6)],
    "tie both": [(6, 6), (6, 6)],
    "lose both": [(3, 8), (2, 9)],
}


def answerer(name):
    return ScriptedLM(lambda step, messages: {"response": f"{name}: {field_value(messages, 'instruction')}"}, model=f"fake/{name}")


def judge_script(step, messages):
    instruction = field_value(messages, "instruction")
    if instruction == "broken judge":
        return "[[ ## score_1 ## ]]\nexcellent\n\n[[ ## completed ## ]]"
    candidate_first = field_value(messages, "answer_1").startswith("candidate")
    cand, ref = SCORES[instruction][0 if candidate_first else 1]
    s1, s2 = (cand, ref) if candidate_first else (ref, cand)
    return {"score_1": s1, "score_2": s2, "explanation": "scripted"}


@pytest.fixture
def bench(tmp_path):
    path = tmp_path / "bench.jsonl"
    rows = [{"id": f"q{i}", "prompt": text, "category": "math" if i < 2 else "writing"} for i, text in enumerate(SCORES)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def fakes():
    return {"candidate": answerer("candidate"), "reference": answerer("reference"), "judge": ScriptedLM(judge_script, "fake/judge")}


def run(root, bench, tmp_path, rule, lms=None):
    return evaluate(str(bench), "target", "strong", program=root / "programs" / "codeclm.yaml", field="prompt",
                    overrides=["judging.scheme=pairwise-1-10"],
                    rule=rule, out=tmp_path / "out.jsonl", lms=lms or fakes(), bootstrap=200)


def test_paper_rule_overall_and_per_category(root, bench, tmp_path):
    report = run(root, bench, tmp_path, "paper")
    outcomes = {i.instruction: i.outcome for i in report.items}
    assert outcomes == {"win both": "win", "mixed win loss": "loss", "win and tie": "tie", "tie both": "tie", "lose both": "loss"}
    assert (report.overall.wins, report.overall.ties, report.overall.losses) == (1, 2, 2)
    assert report.crr == pytest.approx(3 / 5) and report.rule == "paper"
    by_cat = {t.category: t for t in report.per_category}
    assert by_cat["math"].crr == pytest.approx(1 / 2) and by_cat["writing"].crr == pytest.approx(2 / 3)
    assert report.ci_low <= report.crr <= report.ci_high
    assert report.judge_consistency.orders_agree == pytest.approx(3 / 5)


def test_alpagasus_rule_counts_mixed_outcomes_differently(root, bench, tmp_path):
    report = run(root, bench, tmp_path, "alpagasus")
    assert (report.overall.wins, report.overall.ties, report.overall.losses) == (2, 2, 1)
    assert report.crr == pytest.approx(4 / 5)


def test_judge_sees_both_orders_at_temperature_zero(root, bench, tmp_path):
    lms = fakes()
    run(root, bench, tmp_path, "paper", lms)
    calls = lms["judge"].calls
    assert len(calls) == 2 * len(SCORES)
    assert {c[2].get("temperature") for c in calls} == {0.0}
    firsts = {field_value(c[1], "answer_1").split(":")[0] for c in calls}
    assert firsts == {"candidate", "reference"}


def test_items_jsonl_and_resume(root, bench, tmp_path):
    run(root, bench, tmp_path, "paper")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in rows] == ["win", "loss", "tie", "tie", "loss"]
    assert rows[0]["verdict"]["orders"][0]["order"] == "strong_first"
    assert (tmp_path / "out.summary.json").exists()
    lms = fakes()
    again = run(root, bench, tmp_path, "alpagasus", lms)  # same models: nothing asked again, rule re-applied
    assert lms["judge"].calls == [] and lms["candidate"].calls == []
    assert again.overall.wins == 2


def test_unparseable_judgment_marks_only_that_item(root, bench, tmp_path):
    with bench.open("a") as f:
        f.write(json.dumps({"id": "bad", "prompt": "broken judge", "category": "math"}) + "\n")
    report = run(root, bench, tmp_path, "paper")
    bad = next(i for i in report.items if i.id == "bad")
    assert bad.outcome is None and "judge" in bad.error
    assert report.overall.errors == 1 and report.overall.judged == 5


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


def test_pointwise_verdict_counts_for_both_orders():
    from codeclm.evaluation.harness import score
    from codeclm.evaluation.results import ItemJudgment
    from codeclm.judging.verdict import OrderVerdict, combine

    verdict = combine([OrderVerdict(order="pointwise", strong=4.0, target=7.0)], "pointwise-logprob")
    item = score(ItemJudgment(id="x", category="all", instruction="i", rule="paper", verdict=verdict), "paper")
    assert item.order_outcomes == ["win", "win"] and item.outcome == "win"
