"""Judge (paper Sec. 3.3): Vicuna-style pairwise 1-10 scores, asked in both orders and averaged."""

from __future__ import annotations

from pydantic import BaseModel

from codeclm.signatures import JudgeSignature
from codeclm.steps.base import Step


class OrderVerdict(BaseModel):
    """Scores from one presentation order, mapped back to strong / target."""

    order: str  # "strong_first" or "target_first"
    strong: float
    target: float
    explanation: str = ""


class Verdict(BaseModel):
    """Both orders' verdicts and their average; gap = strong - target."""

    scheme: str
    orders: list[OrderVerdict]
    strong: float
    target: float
    gap: float
    orders_agree: bool


def strict_score(value) -> int:
    """An integer score on 1..10 or ValueError: '8/10' or 'Assistant 1: 8' are not scores."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"score is not an integer: {value!r}")
    if not 1 <= value <= 10:
        raise ValueError(f"score {value} is outside 1..10")
    return value


def combine(orders: list[OrderVerdict], scheme: str) -> Verdict:
    """Average the orders; they agree when each prefers the same side (or both tie)."""
    strong = sum(o.strong for o in orders) / len(orders)
    target = sum(o.target for o in orders) / len(orders)
    signs = {(o.strong > o.target) - (o.strong < o.target) for o in orders}
    return Verdict(
        scheme=scheme, orders=orders, strong=strong, target=target, gap=strong - target, orders_agree=len(signs) == 1
    )


class Judge(Step):
    """The judge LLM scores the strong and the target answer, in both orders (position bias cancels)."""

    name = "judge"
    signature = JudgeSignature
    scheme = "pairwise-1-10"

    def forward(self, instruction: str, strong: str, target: str, key: str) -> Verdict:
        orders = [self._order(instruction, strong, target, key, strong_first=flag) for flag in (True, False)]
        return combine(orders, self.scheme)

    def _order(self, instruction: str, strong: str, target: str, key: str, strong_first: bool) -> OrderVerdict:
        first, second = (strong, target) if strong_first else (target, strong)
        order = "strong_first" if strong_first else "target_first"

        def validate(p) -> OrderVerdict:
            s1, s2 = strict_score(p.score_1), strict_score(p.score_2)
            s_strong, s_target = (s1, s2) if strong_first else (s2, s1)
            return OrderVerdict(order=order, strong=s_strong, target=s_target, explanation=str(p.explanation or ""))

        return self.ask((order, key), validate, instruction=instruction, answer_1=first, answer_2=second)
