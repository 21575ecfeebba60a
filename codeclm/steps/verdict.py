"""What a judge returns: one verdict per presentation order, and their combination (paper Sec. 3.3)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Side = Literal["strong", "target", "tie"]


class OrderVerdict(BaseModel):
    """Scores from one presentation order, mapped back to strong / target.

    order: "strong_first" or "target_first" (pairwise schemes), "pointwise" (each answer alone).
    raw: the judge's raw answer text, kept so every verdict can be audited.
    probabilities: the label / digit probabilities a logprob scheme read, if any.
    tokens: target-loss only: every answer token's loss, packed (`codeclm.judging.token_losses`), for the viewer.
    """

    order: str
    strong: float
    target: float
    explanation: str = ""
    raw: str = ""
    probabilities: dict[str, float] | None = None
    tokens: str | None = None  # target-loss: the answer's per-token losses, packed (codeclm.judging.token_losses)

    @property
    def preferred(self) -> Side:
        return "strong" if self.strong > self.target else "target" if self.target > self.strong else "tie"

    @property
    def first_preferred(self) -> bool | None:
        """Did this order prefer the answer shown first? None for a tie or a pointwise verdict."""
        if self.order not in ("strong_first", "target_first") or self.preferred == "tie":
            return None
        return (self.preferred == "strong") == (self.order == "strong_first")


class Verdict(BaseModel):
    """Both orders' verdicts and their average; gap = strong - target on the scheme's scale.

    orders_agree: every order prefers the same side (or all tie); a pointwise verdict has a
    single order and is trivially in agreement.
    """

    scheme: str
    orders: list[OrderVerdict]
    strong: float
    target: float
    gap: float
    orders_agree: bool
    scale: str = ""


def combine(orders: list[OrderVerdict], scheme: str, scale: str = "") -> Verdict:
    """Average the orders; they agree when each prefers the same side (or both tie)."""
    strong = sum(o.strong for o in orders) / len(orders)
    target = sum(o.target for o in orders) / len(orders)
    return Verdict(
        scheme=scheme, orders=orders, strong=strong, target=target, gap=strong - target,
        orders_agree=len({o.preferred for o in orders}) == 1, scale=scale,
    )
