"""Scheme `pointwise-logprob`: each answer rated alone; score = expected 1-10 rating from digit logprobs.

Scale: gap = E[score | strong] - E[score | target], in [-9, 9] but in practice small (about
0.5-3 for a clearly worse answer on the local 1.5B). Each answer is judged alone, so there is
no position bias and one "pointwise" order per verdict (orders_agree is trivially true).
"""

from __future__ import annotations

from codeclm.judging.base import LogprobJudge
from codeclm.judging.logprobs import answer_position, digit_distribution, expected_score, token_logprobs
from codeclm.judging.signatures import PointwiseSignature
from codeclm.steps.verdict import OrderVerdict, Verdict, combine


class PointwiseJudge(LogprobJudge):
    """Rates the strong and the target answer separately; reads the expected rating."""

    signature = PointwiseSignature
    field = "rating"

    def forward(self, instruction: str, strong: str, target: str, key: str) -> Verdict:
        s_score, s_probs, s_raw = self.rate(instruction, strong, (key, "strong"))
        t_score, t_probs, t_raw = self.rate(instruction, target, (key, "target"))
        probabilities = {f"strong:{k}": v for k, v in s_probs.items()} | {f"target:{k}": v for k, v in t_probs.items()}
        order = OrderVerdict(order="pointwise", strong=s_score, target=t_score, raw=f"strong={s_raw} target={t_raw}", probabilities=probabilities)
        return combine([order], self.scheme, self.scale)

    def rate(self, instruction: str, answer: str, key) -> tuple[float, dict[str, float], str]:
        def validate(p):
            tokens = token_logprobs(p.get("logprobs"))
            probs = digit_distribution(tokens, answer_position(tokens, self.field))
            return expected_score(probs), probs, str(p.rating)

        return self.ask(key, validate, instruction=instruction, answer=answer)
