"""End to end: `evaluate` on one Vicuna question against a real local model, replayed from a cassette.

In this recording the 135M model, cut at 40 tokens, gives no parseable answer: the item is marked
(error names the step) and the report still comes out; a larger model or budget gives a judged item.

Recorded with smollm2-135m-instruct (candidate, reference and judge) on the embedded llama.cpp server:
    CODECLM_RECORD_API_BASE=http://127.0.0.1:PORT/v1 pytest -o addopts="" --record-mode=once tests/evaluation/test_eval_cassette.py
"""

import json

import dspy
import pytest

from codeclm.evaluation import evaluate

MODEL = "smollm2-135m-instruct"
# short answers, one try per step: the recording stays small and quick on a shared CPU
OVERRIDES = ["concurrency=1", "max_attempts=1", "answering.max_tokens=40", "judging.max_tokens=60"]


def lm(api_base):
    return dspy.LM(f"openai/{MODEL}", api_base=api_base, api_key="local", engine="litellm", cache=False, num_retries=0)


@pytest.mark.vcr
def test_eval_on_vicuna_replayed(root, tmp_path, recorded_api_base):
    lms = {"candidate": lm(recorded_api_base), "reference": lm(recorded_api_base), "judge": lm(recorded_api_base)}
    report = evaluate(
        "vicuna", "target", "strong", program=root / "programs" / "codeclm.yaml", overrides=OVERRIDES,
        limit=1, rule="alpagasus", out=tmp_path / "eval.jsonl", lms=lms, bootstrap=200)
    assert report.total == 1 and report.benchmark == "vicuna" and report.rule == "alpagasus"
    assert report.overall.judged + report.overall.errors == 1
    rows = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1"]
    for row in rows:
        if row["error"] is None:
            assert row["candidate_response"] and row["reference_response"] and len(row["verdict"]["orders"]) == 2
            assert row["outcome"] in {"win", "tie", "loss"}
        else:  # a 135M model may not give a parseable answer or scores: that marks the item, not the run
            assert row["error"].split(":")[0] in {"respond", "judge"} and row["outcome"] is None
