"""Contrastive Filtering (paper Sec. 3.3): keep what the target cannot do yet, loop back what is too easy."""

from __future__ import annotations

from typing import Literal

import dspy
from pydantic import BaseModel

from codeclm.guards import Answer
from codeclm.judging.verdict import Verdict
from codeclm.steps.respond import Respond

Action = Literal["keep_strong", "keep_target", "improve", "drop"]


class Decision(BaseModel):
    action: Action
    reason: str


def decide(gap: float, theta: float, iteration: int, max_iterations: int) -> Decision:
    """The filter's rule, a pure function of the judge's gap (strong - target, on the scheme's scale).

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
    """Both answers (the target's only where the scheme needs it) and the verdict.

    `verdict` is None when the strong answer failed its guard: such an answer is never judged
    and never kept.
    """

    strong: Answer
    target: Answer | None = None
    verdict: Verdict | None = None


class ContrastiveFilter(dspy.Module):
    """The strong LLM answers (guarded); the target answers if the scheme compares answers; the judge decides."""

    def __init__(self, respond_strong: Respond, respond_target: Respond, judge: dspy.Module):
        super().__init__()
        self.respond_strong = respond_strong
        self.respond_target = respond_target
        self.judge = judge

    def forward(self, instruction: str, key: str) -> Contrast:
        strong = self.respond_strong(instruction=instruction, key=key)
        if not strong.usable:
            return Contrast(strong=strong)
        target = self.respond_target(instruction=instruction, key=key) if self.judge.needs_target_answer else None
        verdict = self.judge(instruction=instruction, strong=strong.text, target=target.text if target else None, key=key)
        return Contrast(strong=strong, target=target, verdict=verdict)
