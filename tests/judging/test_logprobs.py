"""Reading answer-token probabilities: the answer after the field header, labels, digits, "10" split in two.

Runs against: no model and no server (the code's own logic on hand-made inputs) (log-probability payloads written by hand in the shape servers return).
"""

import math

import litellm
import pytest

from codeclm.judging.logprobs import (
    TokenLogprob, answer_position, digit_distribution, expected_score, label_distribution, token_logprobs,
)


def tok(token, top=None):
    return TokenLogprob(token, math.log(0.9), {k: math.log(v) for k, v in (top or {}).items()})


CHAT = [tok("[["), tok(" ##"), tok(" preferred"), tok(" ##"), tok(" ]]"), tok("\n"), tok("B", {"A": 0.3, "B": 0.6, "C": 0.1}), tok("\n\n")]


def test_token_logprobs_reads_dicts_and_litellm_objects():
    raw = {"content": [{"token": "A", "logprob": -0.1, "top_logprobs": [{"token": "A", "logprob": -0.1}, {"token": " B", "logprob": -2.0}]}]}
    from_dict = token_logprobs(raw)
    obj = litellm.ModelResponse(choices=[{"index": 0, "message": {"role": "assistant", "content": "A"}, "logprobs": raw}])
    from_obj = token_logprobs(obj.choices[0].logprobs)
    assert from_dict == from_obj and from_dict[0].top == {"A": -0.1, " B": -2.0}
    assert token_logprobs(None) == [] and token_logprobs({"content": None}) == []


def test_answer_token_is_found_after_the_chat_header_not_at_position_zero():
    assert answer_position(CHAT, "preferred") == 6


@pytest.mark.parametrize("tokens, expected", [
    ([tok("[[ ## preferred ## ]]"), tok(" A")], 1),  # header in one token, answer with a space
    ([tok("[[ ## preferred ## ]]\nA")], 0),  # header and answer merged into one token
    ([tok("{\n"), tok('  "'), tok("preferred"), tok('":'), tok(' "'), tok("A"), tok('"}')], 5),  # JSON adapter
])
def test_answer_position_in_other_tokenizations(tokens, expected):
    assert answer_position(tokens, "preferred") == expected


def test_missing_field_or_empty_answer_is_a_value_error():
    with pytest.raises(ValueError, match="no `preferred` field"):
        answer_position([tok("[[ ## other ## ]]"), tok("A")], "preferred")
    assert answer_position([tok("\n"), tok("A")], "preferred") == 1  # a plain-text reply: first token with text
    with pytest.raises(ValueError, match="empty"):
        answer_position([tok("[[ ## preferred ## ]]"), tok("\n")], "preferred")


def test_label_distribution_renormalizes_over_labels_and_merges_variants():
    probs = label_distribution(CHAT[6], ("A", "B"))
    assert probs == pytest.approx({"A": 1 / 3, "B": 2 / 3})
    merged = label_distribution(tok(" A", {" A": 0.4, "A": 0.2, '"B': 0.2}), ("A", "B"))
    assert merged == pytest.approx({"A": 0.75, "B": 0.25})


def test_empty_top_logprobs_or_no_label_is_a_value_error():
    with pytest.raises(ValueError, match="no top_logprobs"):
        label_distribution(tok("A"), ("A", "B"))
    with pytest.raises(ValueError, match="none of"):
        label_distribution(tok("X", {"X": 0.9, "Y": 0.1}), ("A", "B"))


def test_ten_split_into_one_and_zero_counts_as_ten():
    tokens = [tok("[[ ## rating ## ]]\n"), tok("1", {"1": 0.6, "8": 0.4}), tok("0", {"0": 0.5, "\n": 0.5})]
    probs = digit_distribution(tokens, 1)
    assert probs["10"] == pytest.approx(0.3) and probs["1"] == pytest.approx(0.3) and probs["8"] == pytest.approx(0.4)
    assert expected_score(probs) == pytest.approx(0.3 * 10 + 0.3 * 1 + 0.4 * 8)


def test_one_stays_one_when_another_digit_was_sampled():
    tokens = [tok("8", {"8": 0.7, "1": 0.1, "7": 0.2}), tok("\n", {"\n": 1.0})]
    probs = digit_distribution(tokens, 0)
    assert probs["1"] == pytest.approx(0.1) and probs["10"] == 0.0
    assert expected_score(probs) == pytest.approx(0.1 + 5.6 + 1.4)


def test_a_single_ten_token_is_read_too():
    probs = digit_distribution([tok("10", {"10": 0.5, "9": 0.5})], 0)
    assert expected_score(probs) == pytest.approx(9.5)
