"""Build the configured judge: one DSPy module per scheme, instructions from prompts/<template>.jinja."""

from __future__ import annotations

import dspy

from codeclm.judging.base import Judge
from codeclm.judging.pairwise import PairwiseJudge
from codeclm.judging.pointwise import PointwiseJudge
from codeclm.judging.preference import PreferenceJudge
from codeclm.judging.scales import SCALES
from codeclm.templates import PromptLibrary

JUDGES: dict[str, type[Judge]] = {
    "pairwise-1-10": PairwiseJudge,
    "logprob-pairwise": PreferenceJudge,
    "pointwise-logprob": PointwiseJudge,
}


def make_judge(scheme: str, prompts: PromptLibrary, lm: dspy.BaseLM | None, *, max_attempts: int = 3,
               temperature: float = 0.0, max_tokens: int | None = None) -> Judge:
    """The judge module of `scheme`; `max_tokens` None means the scheme's default cap."""
    scale = SCALES[scheme]
    return JUDGES[scheme](
        prompts.render(scale.template), lm, max_attempts=max_attempts,
        temperature=temperature, max_tokens=max_tokens or scale.max_tokens,
    )


def judge_from_config(config, prompts: PromptLibrary, lm: dspy.BaseLM | None, scheme: str | None = None) -> Judge:
    """The judge a program config asks for (or `scheme` instead, for calibration comparisons)."""
    j = config.judging
    return make_judge(scheme or j.scheme, prompts, lm, max_attempts=config.max_attempts,
                      temperature=j.temperature, max_tokens=j.max_tokens)
