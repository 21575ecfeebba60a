"""The judging schemes, each declared once here; everything else derives from `SCHEMES` (no DSPy import: config reads this).

Each scheme reports gap = strong - target on its own scale, and Contrastive Filtering keeps an
instruction when |gap| > theta. The paper's theta = 3 belongs to the 1-10 pairwise scale only.
From a scheme's record come: config's accepted `judging.scheme` values and default theta,
`make_judge` (its judge class is imported only when built), whether a local judge server must
return log-probabilities (codeclm.models.roles), the fix the filter check names when it fails
(codeclm.check.program), and whether theta must be calibrated per target (codeclm.models.config).
A new scheme: its judge class (judging/<scheme>.py), its record below, its prompts/<template>.jinja.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from codeclm.errors import SCORE_SERVERS

if TYPE_CHECKING:
    import dspy

    from codeclm.prompting.templates import RenderedPrompt

# What the filter check tells the user to try when a scheme fails it: never the scheme that just failed.
TRY_A_JUDGE = ("a strong judge model with an LLM-judge scheme (models.judge: {model: gpt-4o-mini, api_key_env: "
               "OPENAI_API_KEY} and judging.scheme: pairwise-1-10), or check models.target.chat_template")
TRY_TARGET_LOSS = (f"judging.scheme: target-loss (no judge: needs a target served by {SCORE_SERVERS}), "
                   "or a stronger judge model (models.judge: {model: gpt-4o-mini, api_key_env: OPENAI_API_KEY})")


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """One judging scheme: how it is built, what its scale is, what it needs and what to try when it fails."""

    name: str  # the `judging.scheme` value
    judge: str  # "module:Class" of its judge; the class's `build(scheme, prompt, lm, ...)` makes one
    template: str  # prompts/<template>.jinja
    threshold: float  # default theta
    gap_max: float  # |gap| never exceeds this
    max_tokens: int  # default judge answer cap
    scale: str  # the verdict's scale, as each record stores it
    description: str
    fix: str  # what the filter check tells the user to try when this scheme fails it
    scores_with: Literal["judge", "target"] = "judge"  # the role whose model gives the verdict
    both_orders: bool = True  # judges the pair in both presentation orders; False: one rating per answer, no order
    logprobs: bool = False  # reads the judge's answer-token log-probabilities (a local judge's server must return them)
    needs_calibration: bool = False  # its scale moves with the target model: a run needs theta calibrated for its target


SCHEMES: dict[str, Scheme] = {scheme.name: scheme for scheme in (
    Scheme(
        name="target-loss", judge="codeclm.judging.target_loss:TargetLossJudge", template="respond",
        # theta 1.0: chosen on the development split of the filter check set (docs/judging.md), SmolLM2-135M as
        # target, Qwen2.5-Coder-1.5B answers; the held-out split is what `codeclm judge check` measures
        threshold=1.0, gap_max=30.0, max_tokens=0,
        scale="the target's mean loss (nats per token) on the strong answer's new words, >= 0",
        description="the target's mean loss (nats per token) on the strong answer's new words (not in the instruction), "
                    "from its prompt log-probabilities; no judge of quality; keep when the loss > theta",
        fix=TRY_A_JUDGE, scores_with="target", both_orders=False, needs_calibration=True,
    ),
    Scheme(
        name="pairwise-1-10", judge="codeclm.judging.pairwise:PairwiseJudge", template="judge",
        threshold=3.0, gap_max=9.0, max_tokens=256, scale="gap of 1-10 scores, -9..9",
        description="paper's Vicuna-style judge: both answers scored 1-10 in one call, both orders averaged; "
                    "gap = strong - target in [-9, 9]; default theta 3 (paper)",
        fix=TRY_TARGET_LOSS,
    ),
    Scheme(
        name="logprob-pairwise", judge="codeclm.judging.preference:PreferenceJudge", template="judge_preference",
        threshold=0.1, gap_max=1.0, max_tokens=3, scale="2*P(strong better)-1, -1..1",
        description="one-token 'A or B' preference read from top_logprobs, both orders averaged: P = P(strong better); "
                    "gap = 2P - 1 in [-1, 1]; default theta 0.1",
        fix=TRY_TARGET_LOSS, logprobs=True,
    ),
    Scheme(
        name="pointwise-logprob", judge="codeclm.judging.pointwise:PointwiseJudge", template="judge_pointwise",
        threshold=1.0, gap_max=9.0, max_tokens=3, scale="gap of expected 1-10 ratings, -9..9",
        description="each answer rated alone; expected 1-10 rating from digit logprobs ('10' split as '1','0' handled); "
                    "gap = E[strong] - E[target] in [-9, 9]; default theta 1",
        fix=TRY_TARGET_LOSS, both_orders=False, logprobs=True,
    ),
)}


def make_judge(scheme: str, prompt: RenderedPrompt, lm: dspy.BaseLM | None, *, max_attempts: int = 3,
               temperature: float = 0.0, max_tokens: int | None = None, chat_template: str = "chatml"):
    """The judge module of `scheme` with its rendered template; `max_tokens` None means the scheme's default cap.

    For a scheme that scores with the target (target-loss), `lm` is the target's LM and `chat_template` its chat format.
    """
    record = SCHEMES[scheme]
    return pkgutil.resolve_name(record.judge).build(record, prompt, lm, max_attempts=max_attempts, temperature=temperature,
                                                     max_tokens=max_tokens, chat_template=chat_template)
