"""What an evaluation produces: one judgment per benchmark item, and the CRR report over them."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from pydantic import BaseModel

from codeclm.evaluation.rules import Outcome, bootstrap_ci, crr
from codeclm.judging.verdict import Verdict


class ItemJudgment(BaseModel):
    """One benchmark item: both answers, the judge's verdict in both orders, and the outcome by the rule.

    In `verdict`, `strong` is the REFERENCE model's score and `target` the CANDIDATE's
    (the Judge step's roles: the reference plays the strong LLM, the candidate the target).
    `error` is set, and `outcome` is None, when an answer or the judgment could not be had.
    """

    id: str
    category: str
    instruction: str
    candidate_response: str | None = None
    reference_response: str | None = None
    verdict: Verdict | None = None
    order_outcomes: list[Outcome] = []
    outcome: Outcome | None = None
    rule: str
    error: str | None = None
    models: dict[str, str] = {}
    guards: dict[str, str] = {}  # candidate / reference: the answer guard's finding ("ok", "cut_off", ...)


class Tally(BaseModel):
    """Counts and CRR over a group of judged items."""

    category: str
    judged: int
    wins: int
    ties: int
    losses: int
    errors: int
    crr: float | None

    @classmethod
    def of(cls, category: str, items: Iterable[ItemJudgment]) -> "Tally":
        items = list(items)
        outcomes = [i.outcome for i in items if i.outcome]
        counts = Counter(outcomes)
        return cls(category=category, judged=len(outcomes), wins=counts["win"], ties=counts["tie"],
                   losses=counts["loss"], errors=sum(i.outcome is None for i in items), crr=crr(outcomes))


class JudgeConsistency(BaseModel):
    """The judge's calibration figures visible from the eval itself (both orders of every item)."""

    orders_agree: float | None  # share of items whose two orders give the same outcome
    first_position_wins: float | None  # share of decisive order-judgments won by the answer shown first
    mean_candidate_score: float | None
    mean_reference_score: float | None

    @classmethod
    def of(cls, items: Iterable[ItemJudgment]) -> "JudgeConsistency":
        verdicts = [i.verdict for i in items if i.verdict is not None and i.outcome is not None]
        orders = [o for v in verdicts for o in v.orders]
        decisive = [o for o in orders if o.strong != o.target]
        first_won = [(o.strong > o.target) == (o.order == "strong_first") for o in decisive]
        return cls(
            orders_agree=_mean(len({(o.strong > o.target) - (o.strong < o.target) for o in v.orders}) == 1 for v in verdicts),
            first_position_wins=_mean(first_won),
            mean_candidate_score=_mean(o.target for o in orders),
            mean_reference_score=_mean(o.strong for o in orders),
        )


class EvalReport(BaseModel):
    """CRR of a candidate against a reference on one benchmark; `items` are the per-item judgments."""

    benchmark: str
    rule: str
    candidate: str
    reference: str
    judge: str
    judge_scheme: str
    total: int
    overall: Tally
    ci_low: float | None
    ci_high: float | None
    confidence: float
    bootstrap_samples: int
    seed: int
    per_category: list[Tally]
    judge_consistency: JudgeConsistency
    items_path: str | None = None
    items: list[ItemJudgment] = []

    @property
    def crr(self) -> float | None:
        return self.overall.crr

    @classmethod
    def build(cls, items: list[ItemJudgment], *, confidence: float, samples: int, seed: int, **labels) -> "EvalReport":
        outcomes = [i.outcome for i in items if i.outcome]
        ci = bootstrap_ci(outcomes, samples, confidence, seed)
        categories = sorted({i.category for i in items})
        return cls(
            total=len(items), overall=Tally.of("overall", items),
            ci_low=ci[0] if ci else None, ci_high=ci[1] if ci else None,
            confidence=confidence, bootstrap_samples=samples, seed=seed,
            per_category=[Tally.of(c, (i for i in items if i.category == c)) for c in categories],
            judge_consistency=JudgeConsistency.of(items), items=items, **labels,
        )


def _mean(values: Iterable[float | bool]) -> float | None:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else None
