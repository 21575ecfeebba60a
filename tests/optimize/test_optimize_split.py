"""The benchmark split: seeded, disjoint; held-out items never reach the optimizer; copies are zeroed and flagged.

Runs against: the scripted optimize world in process (tests/optimize/optimize_world.py WorldLM: a fake, not real models).
"""

import json

import pytest
from optimize_world import BENCHMARK, world_lms

import codeclm.optimize.runner as runner
from codeclm.errors import OptimizeError
from codeclm.evaluation.benchmarks import BenchmarkItem
from codeclm.optimize import optimize, split_benchmark

ITEMS = [BenchmarkItem(r["id"], r["instruction"], "all") for r in BENCHMARK]


def test_split_is_seeded_disjoint_and_complete():
    a, b, other = split_benchmark("w", ITEMS, 0.5, 0), split_benchmark("w", ITEMS, 0.5, 0), split_benchmark("w", ITEMS, 0.5, 1)
    assert a == b and a.ids() != other.ids()
    ids = a.ids()
    assert len(ids["optimization"]) == len(ids["heldout"]) == 6
    assert set(ids["optimization"]).isdisjoint(ids["heldout"]) and set(ids["optimization"]) | set(ids["heldout"]) == {i.id for i in ITEMS}
    assert len(split_benchmark("w", ITEMS, 0.01, 0).optimization) == 1 and len(split_benchmark("w", ITEMS, 0.99, 0).heldout) == 1


@pytest.mark.parametrize("share, items, message", [
    (1.0, ITEMS, r"--split 1\.0: the optimization part's share must be between 0 and 1"),
    (0.5, ITEMS[:1], r"benchmark w has 1 instruction: need at least 2"),
])
def test_bad_splits_are_one_line(share, items, message):
    with pytest.raises(OptimizeError, match=message):
        split_benchmark("w", items, share, 0)


@pytest.mark.parametrize("optimizer", ["bootstrap", "gepa"])
def test_held_out_items_never_reach_the_optimizer(world_config, benchmark_file, tmp_path, monkeypatch, optimizer):
    lms = world_lms()
    strong = lms["strong"]
    seen = {}
    real_compile = runner.compile_chain

    def spy(name, chain, train, metric, **kwargs):
        seen["train"], start = list(train), len(strong.calls)
        tuned = real_compile(name, chain, train, metric, **kwargs)
        seen["calls"] = strong.calls[start:]
        return tuned

    monkeypatch.setattr(runner, "compile_chain", spy)
    result = optimize(world_config(), benchmark=str(benchmark_file), optimizer=optimizer, out=tmp_path / "t.json", lms=lms)
    report = json.loads(result.report.read_text())
    heldout_ids = set(report["split_ids"]["heldout"])
    heldout_texts = [r["instruction"] for r in BENCHMARK if r["id"] in heldout_ids]
    assert {ex.source for ex in seen["train"]} <= set(report["split_ids"]["optimization"])
    assert {ex.key for ex in seen["train"]}.isdisjoint(d["key"] for d in report["before"])
    compile_requests = [json.dumps(messages) for _, messages, _ in seen["calls"]]
    assert compile_requests and not any(text in request for text in heldout_texts for request in compile_requests)
    if optimizer == "gepa":
        assert any(step == "proposer" for step, _, _ in seen["calls"])  # the reflection LM was asked, without held-out text
    # Held-out text is sent only to Encode, to build the held-out examples (before any optimizer runs).
    for step, messages, _ in strong.calls:
        if any(text in json.dumps(messages) for text in heldout_texts):
            assert step == "encode"


def test_instructions_copying_a_held_out_or_test_item_score_zero_and_are_flagged(world_config, benchmark_file, tmp_path, monkeypatch):
    import optimize_world

    from codeclm.evaluation.benchmarks import load_benchmark

    _, vicuna = load_benchmark("vicuna")
    parts = split_benchmark("bench", ITEMS, 0.5, 0)
    copied = parts.heldout[0]
    real_decode = optimize_world.decode

    def decode(use_case, system, demos):  # the strong model regurgitates a held-out item and a vicuna question
        if use_case == "poetry writing" or use_case == "travel planning":
            return {"new_instructions": [copied.instruction, vicuna[0].instruction]}
        return real_decode(use_case, system, demos)

    monkeypatch.setattr(optimize_world, "decode", decode)
    result = optimize(world_config(), benchmark=str(benchmark_file), out=tmp_path / "t.json", lms=world_lms())
    report = json.loads(result.report.read_text())
    flagged = report["flagged_instructions"]
    assert {(f["source"], f["item_id"]) for f in flagged} == {("held-out", copied.id), ("test:vicuna", vicuna[0].id)}
    assert {f["phase"] for f in flagged} >= {"before"}
    scored = [i for phase in ("before", "after") for ex in report[phase] for i in ex["instructions"]]
    copies = [i for i in scored if i["instruction"] in (copied.instruction, vicuna[0].instruction)]
    assert copies and all(i["score"] == 0 and i["leak"] for i in copies)
    assert report["metric"]["leak"] == {"ngram": 8, "rouge_l_above": 0.7, "protected": ["held-out", "vicuna", "self_instruct"]}
