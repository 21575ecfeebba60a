"""Respond: one LLM (the strong or the target) answers an instruction; every answer passes the guards."""

from __future__ import annotations

from codeclm.steps.adapters import PlainAdapter
from codeclm.steps.guards import Answer, GuardCounts, check
from codeclm.steps.signatures import RespondSignature
from codeclm.steps.base import Step


class Respond(Step):
    """Answer an instruction with this step's LM (its role: strong or target) and guard the answer.

    With `ask_again_when_cut`, a reply cut off at the token cap is asked once more with twice the
    cap (a new rollout); the answer's `guard` says what is still wrong with it, if anything.
    """

    name = "respond"
    signature = RespondSignature
    adapter = PlainAdapter()  # the instruction as the user message, the reply as the response

    def __init__(self, *args, role: str = "strong", ask_again_when_cut: bool = False, counts: GuardCounts | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role
        self.ask_again_when_cut = ask_again_when_cut
        self.counts = counts

    def forward(self, instruction: str, key: str) -> Answer:
        cap = self.max_tokens()
        answer = self.ask((self.role, key), lambda p: _answer(p, cap, instruction), instruction=instruction)
        retried = answer.guard == "cut_off" and self.ask_again_when_cut and cap is not None
        if retried:
            answer = self.ask((self.role, key, "longer"), lambda p: _answer(p, 2 * cap, instruction), instruction=instruction,
                              lm_config={"max_tokens": 2 * cap})
        if self.counts is not None:
            self.counts.add(self.role, answer, retried=retried, key=key)
        return answer

    def max_tokens(self) -> int | None:
        overrides = getattr(self.lm, "overrides", None) or {}
        return overrides.get("max_tokens") or self.lm_config.get("max_tokens")


def _answer(prediction, cap: int | None, instruction: str) -> Answer:
    text = str(prediction.response or "")
    finish = prediction.get("finish_reason")
    return Answer(text=text.strip(), finish_reason=finish, completion_tokens=prediction.get("completion_tokens"),
                  max_tokens=cap, guard=check(text, finish, instruction))
