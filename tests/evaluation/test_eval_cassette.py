"""End to end: `evaluate` on two Vicuna questions against real local models, through codeclm's own LM path (the
engine, its cache key, finish_reason and the answer guards), replayed from a cassette.

Recorded on the embedded llama.cpp servers (real models, not fakes): smollm2-135m-instruct answers as candidate and
reference, qwen2.5-coder-1.5b-instruct judges with the program's eval scheme (pointwise-logprob):
    codeclm serve --logprobs   # prints both api_bases
    CODECLM_RECORD_API_BASE=<smollm2 api_base> CODECLM_RECORD_JUDGE_API_BASE=<qwen api_base> \\
      pytest -o addopts="" --record-mode=rewrite tests/evaluation/test_eval_cassette.py
An earlier version built plain `dspy.LM`s, which drop finish_reason: both recorded answers had been cut off at the
cap, and the test asserted no failure. Here the answers are capped at 80 tokens on purpose, so a real cut-off
answer meets the guard.
Runs against: a cassette recorded from real local models (SmolLM2-135M, Qwen2.5-Coder-1.5B on llama.cpp).
"""

import json
import os

import pytest

from codeclm.evaluation import evaluate

MODEL, JUDGE = "smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct"


def overrides(api_base, judge_base, tmp_path):
    return ["concurrency=1", "max_attempts=2", "answering.max_tokens=80", f"cache.path={tmp_path / 'calls.sqlite'}",
            f"models.strong={{model: {MODEL}, api_base: '{api_base}', max_tries: 1}}",
            f"models.target={{model: {MODEL}, api_base: '{api_base}', max_tries: 1, chat_template: chatml}}",
            f"models.judge={{model: {JUDGE}, api_base: '{judge_base}', max_tries: 1}}"]


@pytest.mark.vcr
def test_eval_on_vicuna_replayed(root, tmp_path, recorded_api_base, vcr):
    judge_base = os.environ.get("CODECLM_RECORD_JUDGE_API_BASE", recorded_api_base)
    report = evaluate(  # vicuna:all: rows 0 and 1 (seed-split rows; the default scores test rows)
        "vicuna:all", "target", "strong", program=root / "programs" / "codeclm.yaml",
        overrides=overrides(recorded_api_base, judge_base, tmp_path), limit=2, out=tmp_path / "eval.jsonl", bootstrap=200,
        unverified=True)  # this tests the answer path; the judge has no filter check recorded, and the figure says so
    assert any(w.startswith("UNVERIFIED: judge qwen2.5-coder-1.5b-instruct under pointwise-logprob") for w in report.warnings)
    assert report.total == 2 and report.benchmark == "vicuna" and report.split == "all"
    assert report.outcome_kind == "pointwise" and report.rule == "n/a"  # one rating per answer: no orders, no rule
    # SmolLM2 writes on past 80 tokens: the server said finish_reason "length", so neither answer may be judged.
    assert report.overall.items == 2 and report.overall.failed == 2 and report.failures == {"candidate": 2}
    assert report.overall.crr == 0.0 and report.overall.losses == 2
    rows = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2"]
    for row in rows:
        assert row["candidate_response"] and row["reference_response"]  # recorded, just cut off
        assert row["guards"] == {"candidate": "cut_off", "reference": "cut_off"}
        assert row["failed"] == "candidate" and row["error"] == "candidate answer cut off" and row["verdict"] is None
    # On the wire: each answer at the 80-token cap, the reference asked once more at 160 (still cut), no judge call.
    sent = [(json.loads(request.body)["model"], json.loads(request.body)["max_tokens"]) for request, _ in vcr.data]
    assert sent == [(MODEL, 80), (MODEL, 80), (MODEL, 160)] * 2
