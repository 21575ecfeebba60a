"""Build the configured judge: one DSPy module per scheme, its prompt from prompts/<template>.jinja."""

from __future__ import annotations

import dspy

from codeclm.judging.base import Judge
from codeclm.judging.pairwise import PairwiseJudge
from codeclm.judging.pointwise import PointwiseJudge
from codeclm.judging.preference import PreferenceJudge
from codeclm.judging.scales import SCALES
from codeclm.judging.target_loss import TargetLossJudge
from codeclm.prompting.templates import RenderedPrompt

JUDGES: dict[str, type[Judge]] = {
    "pairwise-1-10": PairwiseJudge,
    "logprob-pairwise": PreferenceJudge,
    "pointwise-logprob": PointwiseJudge,
}


def make_judge(scheme: str, prompt: RenderedPrompt, lm: dspy.BaseLM | None, *, max_attempts: int = 3,
               temperature: float = 0.0, max_tokens: int | None = None, chat_template: str = "chatml") -> Judge | TargetLossJudge:
    """The judge module of `scheme` with its rendered template; `max_tokens` None means the scheme's default cap.

    For `target-loss`, `lm` is the target's LM and `chat_template` its chat format.
    """
    if scheme == "target-loss":
        return TargetLossJudge(prompt, lm, chat_template=chat_template)
    return JUDGES[scheme](prompt, lm, max_attempts=max_attempts, temperature=temperature,
                          max_tokens=max_tokens or SCALES[scheme].max_tokens)
