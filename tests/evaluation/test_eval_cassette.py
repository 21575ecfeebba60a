"""End to end: `evaluate` on one Vicuna question against real local models, replayed from a cassette.

Recorded on the embedded llama.cpp servers: smollm2-135m-instruct answers as candidate and
reference, qwen2.5-coder-1.5b-instruct judges with the program's scheme (pointwise-logprob):
    codeclm serve   # prints both api_bases
    CODECLM_RECORD_API_BASE=<smollm2 api_base> CODECLM_RECORD_JUDGE_API_BASE=<qwen api_base> \
      pytest -o addopts="" --record-mode=rewrite tests/evaluation/test_eval_cassette.py
"""

import json
import os

import dspy
import pytest

from codeclm.evaluation import evaluate

MODEL, JUDGE = "smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct"
OVERRIDES = ["concurrency=1", "max_attempts=2", "answering.max_tokens=80"]


def lm(model, api_base):
    return dspy.LM(f"openai/{model}", api_base=api_base, api_key="local", engine="litellm", cache=False, num_retries=0)


@pytest.mark.vcr
def test_eval_on_vicuna_replayed(root, tmp_path, recorded_api_base):
    judge_base = os.environ.get("CODECLM_RECORD_JUDGE_API_BASE", recorded_api_base)
    lms = {"candidate": lm(MODEL, recorded_api_base), "reference": lm(MODEL, recorded_api_base), "judge": lm(JUDGE, judge_base)}
    report = evaluate(  # vicuna:all: the recorded question is row 0, a seed-split row (the default scores test rows)
        "vicuna:all", "target", "strong", program=root / "programs" / "codeclm.yaml", overrides=OVERRIDES,
        limit=1, out=tmp_path / "eval.jsonl", lms=lms, bootstrap=200)
    assert report.total == 1 and report.benchmark == "vicuna" and report.split == "all"
    assert report.outcome_kind == "pointwise" and report.rule == "n/a"  # one rating per answer: no orders, no rule
    assert report.judge_consistency.orders_agree is None and report.judge_consistency.first_position_wins is None
    assert report.overall.items == 1 and report.overall.failed == 0
    (row,) = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert row["id"] == "1" and row["error"] is None
    assert row["candidate_response"] and row["reference_response"]
    assert row["verdict"]["scheme"] == "pointwise-logprob" and len(row["verdict"]["orders"]) == 1
    assert row["outcome"] in {"win", "tie", "loss"} and row["order_outcomes"] == [row["outcome"]] and row["rule"] == "n/a"
    assert report.overall.crr == (1.0 if row["outcome"] in ("win", "tie") else 0.0)
