"""Contrastive Filtering (paper Sec. 3.3): keep what the target cannot do yet, loop back what is too easy.

One path for a run and for the filter check: the instruction guard, the strong answer and its
guards, the judge's gap, and `outcome`, the filter's decision on all of them.
"""

from __future__ import annotations

from typing import Literal

import dspy
from pydantic import BaseModel

from codeclm.steps.guards import Answer, InstructionGuard, check_instruction
from codeclm.steps.verdict import Verdict
from codeclm.steps.respond import Respond

Action = Literal["keep_strong", "keep_target", "improve", "drop", "unanswerable", "bad_answer"]


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
    """The instruction's guard, both answers (the target's only where the scheme needs it) and the verdict.

    `verdict` is None when the instruction or the strong answer failed its guard: such an
    instruction is never judged and never kept.
    """

    instruction_guard: InstructionGuard = "ok"
    strong: Answer | None = None
    target: Answer | None = None
    verdict: Verdict | None = None


def outcome(contrast: Contrast, theta: float, iteration: int, max_iterations: int) -> Decision:
    """The filter's decision on one contrast: guards first, then `decide` on the gap."""
    if contrast.instruction_guard != "ok":
        return Decision(action="unanswerable", reason=f"instruction {contrast.instruction_guard.replace('_', ' ')}")
    if contrast.strong is None or not contrast.strong.usable or contrast.verdict is None:
        guard = contrast.strong.guard if contrast.strong is not None else "missing"
        return Decision(action="bad_answer", reason=f"strong answer {guard.replace('_', ' ')}")
    return decide(contrast.verdict.gap, theta, iteration, max_iterations)


class ContrastiveFilter(dspy.Module):
    """The instruction is guarded; the strong LLM answers (guarded); the target answers if the scheme compares
    answers; the judge gives the gap."""

    def __init__(self, respond_strong: Respond, respond_target: Respond, judge: dspy.Module):
        super().__init__()
        self.respond_strong = respond_strong
        self.respond_target = respond_target
        self.judge = judge

    def forward(self, instruction: str, key: str, strong: Answer | None = None, target: Answer | None = None) -> Contrast:
        """`strong` / `target`: answers already made (the filter check's labelled items); else they are asked for."""
        problem = check_instruction(instruction)
        if problem != "ok":
            return Contrast(instruction_guard=problem)
        strong = strong or self.respond_strong(instruction=instruction, key=key)
        if not strong.usable:
            return Contrast(strong=strong)
        if self.judge.needs_target_answer:
            target = target or self.respond_target(instruction=instruction, key=key)
        verdict = self.judge(instruction=instruction, strong=strong.text, target=target.text if target else None, key=key)
        return Contrast(strong=strong, target=target if self.judge.needs_target_answer else None, verdict=verdict)
