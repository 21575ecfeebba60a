"""Scheme `pairwise-1-10`: the paper's Vicuna-style judge, each answer scored 1-10, both orders averaged."""

from __future__ import annotations

from codeclm.steps.verdict import OrderVerdict, Verdict, combine
from codeclm.judging.base import Judge
from codeclm.judging.signatures import JudgeSignature


def strict_score(value) -> int:
    """An integer score on 1..10 or ValueError: '8/10' or 'Assistant 1: 8' are not scores."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"score is not an integer: {value!r}")
    if not 1 <= value <= 10:
        raise ValueError(f"score {value} is outside 1..10")
    return value


class PairwiseJudge(Judge):
    """Scores both answers 1-10 in one call, asked in both orders (position bias averages out).

    Scale: gap = mean strong score - mean target score, in [-9, 9]; paper's theta = 3.
    """

    signature = JudgeSignature

    def forward(self, instruction: str, strong: str, target: str, key: str) -> Verdict:
        orders = [self._order(instruction, strong, target, key, strong_first=flag) for flag in (True, False)]
        return combine(orders, self.scheme, self.scale)

    def _order(self, instruction: str, strong: str, target: str, key: str, strong_first: bool) -> OrderVerdict:
        first, second = (strong, target) if strong_first else (target, strong)
        order = "strong_first" if strong_first else "target_first"

        def validate(p) -> OrderVerdict:
            s1, s2 = strict_score(p.score_1), strict_score(p.score_2)
            s_strong, s_target = (s1, s2) if strong_first else (s2, s1)
            return OrderVerdict(
                order=order, strong=s_strong, target=s_target, explanation=str(p.explanation or ""),
                raw=f"score_1={s1} score_2={s2}",
            )

        return self.ask((order, key), validate, instruction=instruction, answer_1=first, answer_2=second)
