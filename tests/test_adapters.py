"""The plain-text judge adapter: no DSPy scaffolding in the request, the reply parsed into the one output field.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import dspy
import pytest

from codeclm.steps.adapters import PlainAdapter
from codeclm.judging.signatures import PointwiseSignature, PreferenceSignature


def test_request_is_plain_labelled_paragraphs_ending_with_the_question():
    signature = PreferenceSignature.with_instructions("Judge carefully.")
    messages = PlainAdapter().format(signature, demos=[], inputs={"instruction": "Name a color.", "answer_a": "Red.", "answer_b": "Dog."})
    assert messages[0] == {"role": "system", "content": "Judge carefully."}
    user = messages[-1]["content"]
    assert "[[ ##" not in user and "{" not in user
    assert user.startswith("User instruction:\nName a color.\n\nAnswer A:\nRed.\n\nAnswer B:\nDog.")
    assert user.endswith("Which answer is better? Reply with one letter, A or B.")


@pytest.mark.parametrize(
    "signature, reply, expected",
    [(PreferenceSignature, "A", {"preferred": "A"}), (PreferenceSignature, " B.\nBecause...", {"preferred": "B"}),
     (PointwiseSignature, "7", {"rating": 7}), (PointwiseSignature, "10/10", {"rating": 10})],
)
def test_reply_parses_into_the_output_field(signature, reply, expected):
    assert PlainAdapter().parse(signature, reply) == expected


@pytest.mark.parametrize("signature, reply", [(PreferenceSignature, "  "), (PreferenceSignature, "C"), (PointwiseSignature, "seven")])
def test_unparseable_reply_is_an_error(signature, reply):
    with pytest.raises((ValueError, dspy.utils.exceptions.AdapterParseError)):
        PlainAdapter().parse(signature, reply)


def test_respond_sends_the_instruction_alone_and_keeps_the_whole_reply():
    from codeclm.steps.signatures import RespondSignature

    signature = RespondSignature.with_instructions("Be concise.")
    messages = PlainAdapter().format(signature, demos=[], inputs={"instruction": "Name two primes."})
    assert messages == [{"role": "system", "content": "Be concise."}, {"role": "user", "content": "Name two primes."}]
    assert PlainAdapter().parse(signature, " 2 and 3.\n\nBoth are prime. ") == {"response": "2 and 3.\n\nBoth are prime."}
    with pytest.raises(ValueError):
        PlainAdapter().parse(signature, "   ")
