"""The logprob schemes against the real local 1.5B (recorded): logprobs reach the parser through DSPy.

Record: start qwen2.5-coder-1.5b-instruct on a free port, then
CODECLM_RECORD_API_BASE=http://127.0.0.1:PORT/v1 pytest -o addopts="" --record-mode=once tests/judging/test_judge_cassette.py
Runs against: a cassette recorded from the real Qwen2.5-Coder-1.5B (llama.cpp).
"""

import dspy
import pytest

from codeclm.judging.schemes import SCHEMES, make_judge
from codeclm.prompting.templates import PromptLibrary

INSTRUCTION = "What is the capital of France?"
GOOD = "The capital of France is Paris, on the Seine in the north of the country; it is also France's largest city."
CUT = "The capital of France is"


@pytest.fixture
def lm(recorded_api_base):
    return dspy.LM("openai/qwen2.5-coder-1.5b-instruct", api_base=recorded_api_base, api_key="local",
                   engine="litellm", cache=False, num_retries=0)


@pytest.mark.vcr
def test_logprob_pairwise_reads_label_probabilities_in_both_orders(lm, root):
    judge = make_judge("logprob-pairwise", PromptLibrary(root / "prompts").render(SCHEMES["logprob-pairwise"].template), lm, max_attempts=1)
    verdict = judge(instruction=INSTRUCTION, strong=GOOD, target=CUT, key="cassette")
    assert verdict.scheme == "logprob-pairwise" and [o.order for o in verdict.orders] == ["strong_first", "target_first"]
    for order in verdict.orders:
        assert set(order.probabilities) == {"A", "B"} and abs(sum(order.probabilities.values()) - 1) < 1e-9
        assert order.raw in ("A", "B")
    assert -1 <= verdict.gap <= 1 and verdict.gap == pytest.approx(2 * verdict.strong - 1)


@pytest.mark.vcr
def test_pointwise_logprob_reads_an_expected_rating(lm, root):
    judge = make_judge("pointwise-logprob", PromptLibrary(root / "prompts").render(SCHEMES["pointwise-logprob"].template), lm, max_attempts=1)
    verdict = judge(instruction=INSTRUCTION, strong=GOOD, target=CUT, key="cassette")
    (order,) = verdict.orders
    assert order.order == "pointwise" and verdict.orders_agree
    assert 1 <= order.target <= 10 and 1 <= order.strong <= 10
    assert verdict.gap > 0  # the complete answer rates higher than the cut-off one
