"""Both-orders rules and CRR (paper Sec. 4.1): per-item win / tie / loss, CRR = (wins + ties) / total.

The judge scores candidate and reference twice, once with each answer shown
first. Each order gives a win, tie or loss for the candidate; a rule maps the
pair of order outcomes to the item's outcome:

- ``paper`` (CodecLM: "a win only when the target wins in both orders"); we read
  it as "an outcome must hold in both orders": win = won both; loss = lost at
  least one; tie = otherwise (tied both, or won one and tied one).
- ``alpagasus`` (AlpaGasus, whose test sets CodecLM uses): win = won both, or won
  one and tied one; tie = tied both, or won one and lost one; loss = otherwise.
"""

from __future__ import annotations

import random
from typing import Literal, Sequence

WinTieLoss = Literal["win", "tie", "loss"]
_RANK = {"win": 0, "tie": 1, "loss": 2}

RULES: dict[str, dict[tuple[str, str], WinTieLoss]] = {
    "paper": {
        ("win", "win"): "win", ("win", "tie"): "tie", ("tie", "tie"): "tie",
        ("win", "loss"): "loss", ("tie", "loss"): "loss", ("loss", "loss"): "loss",
    },
    "alpagasus": {
        ("win", "win"): "win", ("win", "tie"): "win", ("tie", "tie"): "tie",
        ("win", "loss"): "tie", ("tie", "loss"): "loss", ("loss", "loss"): "loss",
    },
}


def order_outcome(candidate: float, reference: float) -> WinTieLoss:
    """The candidate's outcome in one order, from the judge's two scores."""
    return "win" if candidate > reference else "loss" if candidate < reference else "tie"


def item_outcome(orders: Sequence[WinTieLoss], rule: str) -> WinTieLoss:
    """Combine the two orders' outcomes by `rule` (see module docstring)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule '{rule}'; choose one of {', '.join(RULES)}")
    if len(orders) != 2:
        raise ValueError(f"expected outcomes for 2 orders, got {len(orders)}")
    pair = tuple(sorted(orders, key=_RANK.__getitem__))
    return RULES[rule][pair]  # type: ignore[index]


def crr(outcomes: Sequence[WinTieLoss]) -> float | None:
    """Capacity Recovery Ratio: (wins + ties) / total; None for no items."""
    if not outcomes:
        return None
    return sum(o != "loss" for o in outcomes) / len(outcomes)


def bootstrap_ci(outcomes: Sequence[WinTieLoss], samples: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of CRR over items, resampled with a seeded RNG (reproducible)."""
    if not outcomes:
        return None
    rng = random.Random(seed)
    hits = [o != "loss" for o in outcomes]
    n = len(hits)
    stats = sorted(sum(hits[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    tail = (1 - confidence) / 2
    low = stats[int(tail * (samples - 1))]
    high = stats[int(round((1 - tail) * (samples - 1)))]
    return low, high
