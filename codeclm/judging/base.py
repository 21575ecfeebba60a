"""What every judging scheme is: a Step that compares a strong and a target answer and returns a Verdict.

A judge is built by `codeclm.judging.schemes.make_judge` through its class's `build`, from the scheme's
record (name, scale, answer cap, whether it reads log-probabilities), and offers
`forward(instruction, strong, target, key) -> Verdict` with gap = strong - target on its scale.
"""

from __future__ import annotations

from codeclm.judging.schemes import Scheme
from codeclm.steps.adapters import PlainAdapter
from codeclm.steps.base import Step

# The answer token is all a logprob scheme needs: stop at the end marker instead of paying for more tokens.
LOGPROB_CONFIG = {"logprobs": True, "top_logprobs": 20, "stop": ["[[ ## completed ## ]]"]}


class Judge(Step):
    """Base of the LLM-judge schemes: a prompted judge, one Verdict per (instruction, strong answer, target answer)."""

    name = "judge"
    scheme: str = ""  # the scheme's name and scale, from its record (set by `build`)
    scale: str = ""
    needs_target_answer = True  # the target answers too; target-loss needs only the strong answer

    @classmethod
    def build(cls, scheme: Scheme, prompt, lm, *, max_attempts: int = 3, temperature: float = 0.0,
              max_tokens: int | None = None, chat_template: str = "chatml") -> Judge:
        """The judge of `scheme`; a scheme that reads log-probabilities asks for them (and stops after the answer)."""
        config = {"temperature": temperature, "max_tokens": max_tokens or scheme.max_tokens}
        judge = cls(prompt, lm, max_attempts, **config, **(LOGPROB_CONFIG if scheme.logprobs else {}))
        judge.scheme, judge.scale = scheme.name, scheme.scale
        return judge


class LogprobJudge(Judge):
    """A judge that reads its verdict from the answer token's log-probabilities (its scheme says `logprobs=True`)."""

    adapter = PlainAdapter()  # the answer token comes first, without DSPy's field scaffolding
