"""The judging schemes' names, score scales and default thresholds (no DSPy import: config reads this).

Each scheme reports gap = strong - target on its own scale, and Contrastive Filtering keeps an
instruction when |gap| > theta. The paper's theta = 3 belongs to the 1-10 pairwise scale only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Chosen on the development split of the filter check set (docs/judging.md): SmolLM2-135M as target,
# Qwen2.5-Coder-1.5B answers; the held-out split is what `codeclm judge check` measures.
THETA_TARGET_LOSS = 1.0

SchemeName = Literal["target-loss", "pairwise-1-10", "logprob-pairwise", "pointwise-logprob"]


@dataclass(frozen=True)
class Scale:
    scheme: str
    template: str  # prompts/<template>.jinja
    threshold: float  # default theta
    gap_max: float  # |gap| never exceeds this
    max_tokens: int  # default judge answer cap
    description: str
    scores_with: str = "judge"  # the role whose model gives the verdict ("target" for target-loss)
    both_orders: bool = True  # judges the pair in both presentation orders; False: one rating per answer, no order


SCALES: dict[str, Scale] = {
    "target-loss": Scale(
        "target-loss", "respond", THETA_TARGET_LOSS, 30.0, 0,
        "the target's mean loss (nats per token) on the strong answer's new words (not in the instruction), from "
        "its prompt log-probabilities; no judge of quality; keep when the loss > theta", scores_with="target",
        both_orders=False,
    ),
    "pairwise-1-10": Scale(
        "pairwise-1-10", "judge", 3.0, 9.0, 256,
        "paper's Vicuna-style judge: both answers scored 1-10 in one call, both orders averaged; "
        "gap = strong - target in [-9, 9]; default theta 3 (paper)",
    ),
    "logprob-pairwise": Scale(
        "logprob-pairwise", "judge_preference", 0.1, 1.0, 3,
        "one-token 'A or B' preference read from top_logprobs, both orders averaged: P = P(strong better); "
        "gap = 2P - 1 in [-1, 1]; default theta 0.1",
    ),
    "pointwise-logprob": Scale(
        "pointwise-logprob", "judge_pointwise", 1.0, 9.0, 3,
        "each answer rated alone; expected 1-10 rating from digit logprobs ('10' split as '1','0' handled); "
        "gap = E[strong] - E[target] in [-9, 9]; default theta 1", both_orders=False,
    ),
}
