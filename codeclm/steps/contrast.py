"""Contrastive Filtering (paper Sec. 3.3): keep what the target cannot do yet, loop back what is too easy."""

from __future__ import annotations

from typing import Literal

import dspy
from pydantic import BaseModel

from codeclm.judging.base import Judge
from codeclm.judging.verdict import Verdict
from codeclm.steps.respond import Respond

Action = Literal["keep_strong", "keep_target", "improve", "drop"]


class Decision(BaseModel):
    action: Action
    reason: str


def decide(gap: float, theta: float, iteration: int, max_iterations: int) -> Decision:
    """The filter's rule, a pure function of the score gap (strong - target).

    gap > theta: keep the strong answer (the target cannot do this yet).
    gap < -theta: keep the target's answer (it is much better).
    |gap| <= theta: too easy; improve the instruction again, or drop it at the cap.
    """
    if gap > theta:
        return Decision(action="keep_strong", reason=f"gap {gap:+.2f} > theta {theta}")
    if gap < -theta:
        return Decision(action="keep_target", reason=f"gap {gap:+.2f} < -theta {theta}")
    if iteration < max_iterations:
        return Decision(action="improve", reason=f"|gap {gap:+.2f}| <= theta {theta}: too easy for the target")
    return Decision(action="drop", reason=f"|gap| <= theta {theta} after {max_iterations} iterations")


class Contrast(BaseModel):
    strong_response: str
    target_response: str
    verdict: Verdict


class ContrastiveFilter(dspy.Module):
    """Both LLMs answer; the judge compares the answers in both orders."""

    def __init__(self, respond_strong: Respond, respond_target: Respond, judge: Judge):
        super().__init__()
        self.respond_strong = respond_strong
        self.respond_target = respond_target
        self.judge = judge

    def forward(self, instruction: str, key: str) -> Contrast:
        strong = self.respond_strong(instruction=instruction, key=key)
        target = self.respond_target(instruction=instruction, key=key)
        verdict = self.judge(instruction=instruction, strong=strong, target=target, key=key)
        return Contrast(strong_response=strong, target_response=target, verdict=verdict)
