"""Scheme `logprob-pairwise`: a one-token "A or B" preference read from top_logprobs, both orders.

Per order, P(strong better) = P(strong's label) / (P("A") + P("B")) at the answer token.
Scale: strong = mean P(strong better) over the two orders, target = 1 - strong, so
gap = 2P - 1 in [-1, 1]; position bias cancels in the mean. Labels are A/B: with "1"/"2"
the local 1.5B always answered "2" (docs/judging.md).
"""

from __future__ import annotations

from codeclm.judging.base import LogprobJudge
from codeclm.judging.logprobs import answer_position, label_distribution, token_logprobs
from codeclm.judging.signatures import PreferenceSignature
from codeclm.steps.verdict import OrderVerdict, Verdict, combine

class PreferenceJudge(LogprobJudge):
    """Asks which answer is better (A or B) and reads the probability of each label."""

    signature = PreferenceSignature
    field = "preferred"

    def forward(self, instruction: str, strong: str, target: str, key: str) -> Verdict:
        orders = [self._order(instruction, strong, target, key, strong_first=flag) for flag in (True, False)]
        return combine(orders, self.scheme, self.scale)

    def _order(self, instruction: str, strong: str, target: str, key: str, strong_first: bool) -> OrderVerdict:
        a, b = (strong, target) if strong_first else (target, strong)
        order = "strong_first" if strong_first else "target_first"
        strong_label = "A" if strong_first else "B"

        def validate(p) -> OrderVerdict:
            tokens = token_logprobs(p.get("logprobs"))
            probs = label_distribution(tokens[answer_position(tokens, self.field)], ("A", "B"))
            p_strong = probs[strong_label]
            return OrderVerdict(order=order, strong=p_strong, target=1.0 - p_strong, raw=str(p.preferred), probabilities=probs)

        return self.ask((order, key), validate, instruction=instruction, answer_a=a, answer_b=b)
