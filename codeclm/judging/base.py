"""What every judging scheme is: a Step that compares a strong and a target answer and returns a Verdict.

A scheme has a `scheme` name (config key `judging.scheme`), a `scale` description and
`forward(instruction, strong, target, key) -> Verdict` with gap = strong - target on its scale.
"""

from __future__ import annotations

from codeclm.steps.adapters import PlainAdapter
from codeclm.steps.base import Step

# The answer token is all a logprob scheme needs: stop at the end marker instead of paying for more tokens.
LOGPROB_CONFIG = {"logprobs": True, "top_logprobs": 20, "stop": ["[[ ## completed ## ]]"]}


class Judge(Step):
    """Base of the LLM-judge schemes: a prompted judge, one Verdict per (instruction, strong answer, target answer)."""

    name = "judge"
    scheme: str = ""
    scale: str = ""
    needs_target_answer = True  # the target answers too; target-loss needs only the strong answer


class LogprobJudge(Judge):
    """A judge that reads its verdict from the answer token's log-probabilities."""

    adapter = PlainAdapter()  # the answer token comes first, without DSPy's field scaffolding

    def __init__(self, prompt, lm=None, max_attempts: int = 3, **lm_config):
        super().__init__(prompt, lm, max_attempts, **{**lm_config, **LOGPROB_CONFIG})
