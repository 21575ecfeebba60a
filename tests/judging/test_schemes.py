"""Every scheme on fakes: both-orders aggregation, strict verdict parsing, failures after bounded re-asks.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import pytest
from fakes import ScriptedLM, WithLogprobs, chat_answer
from helpers import pointwise, positional_pairwise, preference

from codeclm.errors import StepError
from codeclm.judging.schemes import SCHEMES, make_judge
from codeclm.prompting.templates import PromptLibrary

STRONG, TARGET = "Paris is the capital of France.", "I don't know."


def judge(root, scheme, answer, max_attempts=3):
    lm = ScriptedLM(lambda step, messages: answer(messages))
    return make_judge(scheme, PromptLibrary(root / "prompts").render(SCHEMES[scheme].template), lm, max_attempts=max_attempts), lm


def verdict(root, scheme, answer):
    j, _ = judge(root, scheme, answer)
    return j(instruction="Capital of France?", strong=STRONG, target=TARGET, key="k")


def test_logprob_pairwise_averages_both_orders_and_cancels_position_bias(root):
    biased = verdict(root, "logprob-pairwise", preference(p_first=0.8))  # always "A", whatever A is
    assert [o.order for o in biased.orders] == ["strong_first", "target_first"]
    assert biased.gap == pytest.approx(0.0) and not biased.orders_agree
    good = verdict(root, "logprob-pairwise", preference(0.5, strong_text=STRONG, p_strong=0.9))
    assert good.gap == pytest.approx(0.8) and good.orders_agree and good.strong == pytest.approx(0.9)
    assert good.orders[1].probabilities == pytest.approx({"A": 0.1, "B": 0.9})  # raw per-order verdict kept


def test_pointwise_logprob_gap_is_the_difference_of_expected_ratings(root):
    v = verdict(root, "pointwise-logprob", pointwise(lambda a: {"8": 0.5, "9": 0.5} if a == STRONG else {"2": 1.0}))
    assert v.scheme == "pointwise-logprob" and v.gap == pytest.approx(6.5) and v.orders_agree
    assert v.orders[0].order == "pointwise" and v.orders[0].probabilities["strong:9"] == pytest.approx(0.5)


def test_pairwise_maps_both_orders_back_to_strong_and_target(root):
    v = verdict(root, "pairwise-1-10", positional_pairwise)
    assert [(o.strong, o.target) for o in v.orders] == [(8, 7), (7, 8)]
    assert v.gap == 0 and not v.orders_agree and v.scale.startswith("gap of 1-10")


def raw(score_1, score_2="7"):
    return f"[[ ## score_1 ## ]]\n{score_1}\n\n[[ ## score_2 ## ]]\n{score_2}\n\n[[ ## explanation ## ]]\nok\n\n[[ ## completed ## ]]"


# Judge outputs seen from real models (LOCAL_MODELS.md and the 1.5B), well-formed and malformed.
@pytest.mark.parametrize("output, scores", [
    (raw("8"), (8, 7)),
    (raw(" 9 "), (9, 7)),
    (raw("10", "1"), (10, 1)),
    (raw("Assistant 1: 8/10"), None),  # a "first two numbers" parser read this as (1, 8)
    (raw("8/10"), None),
    (raw("8 7"), None),  # Vicuna's own "8 7" line put in one field
    (raw("11"), None),
    (raw("0"), None),
    (raw("8.5"), None),
    (raw("eight"), None),
    ("Assistant 1: 8/10\nAssistant 2: 7/10\nAssistant 1 gave a more detailed answer.", None),
    ("", None),
])
def test_strict_verdict_parsing_on_real_outputs(root, output, scores):
    j, lm = judge(root, "pairwise-1-10", lambda messages: output)
    if scores is None:
        with pytest.raises(StepError, match="judge: no valid answer after 3 attempts"):
            j(instruction="q", strong="s", target="t", key="k")
        assert len({c[2]["rollout_id"] for c in lm.calls}) == 3  # bounded re-asks (each may fall back to JSON), then a failure
    else:
        v = j(instruction="q", strong="s", target="t", key="k")
        assert (v.orders[0].strong, v.orders[0].target) == scores


def test_logprob_scheme_without_top_logprobs_fails_after_re_asks(root):
    no_logprobs = lambda messages: WithLogprobs(chat_answer({"preferred": "A"}), [])  # noqa: E731
    j, lm = judge(root, "logprob-pairwise", no_logprobs, max_attempts=2)
    with pytest.raises(StepError, match="no `preferred` field|no top_logprobs|answer is empty"):
        j(instruction="q", strong="s", target="t", key="k")
    assert len({c[2]["rollout_id"] for c in lm.calls}) == 2


def test_logprob_schemes_ask_for_logprobs_and_render_their_own_template(root):
    j, lm = judge(root, "logprob-pairwise", preference(0.5, strong_text=STRONG, p_strong=0.9))
    j(instruction="q", strong=STRONG, target=TARGET, key="k")
    kwargs = lm.calls[0][2]
    assert kwargs["logprobs"] is True and kwargs["top_logprobs"] == 20 and kwargs["max_tokens"] == SCHEMES["logprob-pairwise"].max_tokens
    assert "Reply with a single letter: A or B." in lm.calls[0][1][0]["content"]


def test_every_scheme_is_a_savable_dspy_module(root, tmp_path):
    """LLM judges have one prompt to tune; target-loss asks no prompt (the target scores the answer)."""
    for scheme in SCHEMES:
        j, _ = judge(root, scheme, positional_pairwise)
        assert [name for name, _ in j.named_predictors()] == ([] if scheme == "target-loss" else ["predict"])
        j.save(tmp_path / f"{scheme}.json")
        j.load(tmp_path / f"{scheme}.json")
