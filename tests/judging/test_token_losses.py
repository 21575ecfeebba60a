"""Per-token losses packed into a target-loss verdict, for the viewer.

Runs against: fake LMs (tests/fakes.py ScriptedLM with a scripted target-loss scorer), no server.
"""

import base64

import pytest
from fakes import ScriptedLM, word_scores

from codeclm.judging.schemes import make_judge
from codeclm.judging.token_losses import pack, unpack
from codeclm.prompting.templates import PromptLibrary


def test_pack_round_trips_offsets_and_losses_to_a_tenth_of_a_nat():
    tokens = [(None, 0), (-0.04, 3), (-2.26, 130), (-31.0, 131), (-1.0, 70000)]  # a long step, a loss past the cap
    assert unpack(pack(tokens)) == [(None, 0), (0.0, 3), (2.3, 130), (25.4, 131), (1.0, 70000)]
    assert unpack(pack([])) == []
    assert pack([(-1.0, k) for k in range(300)]).isascii() and len(pack([(-1.0, k) for k in range(300)])) < 900
    with pytest.raises(ValueError):
        unpack("not packed")
    for cut in (bytes([5]), bytes([0x81])):  # a step without its loss; a step cut inside its varint
        with pytest.raises(ValueError):
            unpack("v1:" + base64.b64encode(cut).decode())


def test_a_target_loss_verdict_stores_every_answer_token(root):
    prompt = PromptLibrary(root / "prompts").render("respond")
    answer = "Paris is the capital."
    lm = ScriptedLM(lambda s, m: "", scorer=word_scores(lambda text, token: -1.5 if token in answer.split() else -9.0))
    verdict = make_judge("target-loss", prompt, lm, chat_template="chatml")(instruction="Capital of France?", strong=answer)
    tokens = unpack(verdict.orders[0].tokens)
    assert [start for _, start in tokens] == [0, 6, 9, 13]  # Paris| is| the| capital.
    assert [loss for loss, _ in tokens] == [1.5, 1.5, 1.5, 1.5]
