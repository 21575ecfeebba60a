"""The target IS the strong model: no instruction can be harder for it than for the strong model.

Contrastive Filtering compares what the strong model writes with what the target writes. When both
roles name the same model (the same embedded model, or the same model id at the same endpoint), the
two answers are draws from one model, and the paper's judge would score them as a tie in expectation:
every instruction is too easy, is sent back to Self-Rubrics, and is dropped at the iteration cap. This
judge says so without paying for a comparison: gap 0, with the reason in the record. The strong
answer is still made and guarded, as in any run.
"""

from __future__ import annotations

import dspy

from codeclm.steps.verdict import OrderVerdict, Verdict

REASON = "the target is the strong model itself: its answers are the strong model's answers, so the gap is 0 by construction"


class SameModelJudge(dspy.Module):
    """Gap 0 for every pair (see the module docstring); stands in for the configured scheme's judge."""

    name = "judge"
    needs_target_answer = False

    def __init__(self, scheme: str, scale: str):
        super().__init__()
        self.scheme, self.scale = scheme, scale
        self.template_sha256 = None

    @property
    def model_name(self) -> str | None:
        return "none (the target is the strong model)"

    def forward(self, instruction: str, strong: str, target: str | None = None, key: str = "") -> Verdict:
        order = OrderVerdict(order="same_model", strong=0.0, target=0.0, explanation=REASON)
        return Verdict(scheme=self.scheme, orders=[order], strong=0.0, target=0.0, gap=0.0, orders_agree=True, scale=self.scale)
