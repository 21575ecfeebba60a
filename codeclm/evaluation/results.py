"""What an evaluation produces: one judgment per benchmark item, and the CRR report over them."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Literal

from pydantic import BaseModel

from codeclm.evaluation.rules import WinTieLoss, bootstrap_ci, crr
from codeclm.steps.verdict import Verdict

NOT_APPLICABLE = "n/a"  # the rule of a pointwise scheme: one outcome per item, no orders to combine
Failure = Literal["candidate", "reference", "judge"]
OutcomeKind = Literal["both_orders", "pointwise"]


class ItemJudgment(BaseModel):
    """One benchmark item: both answers, the judge's verdict, and the candidate's outcome.

    In `verdict`, `strong` is the REFERENCE model's score and `target` the CANDIDATE's
    (the Judge step's roles: the reference plays the strong LLM, the candidate the target).
    A both-orders scheme gives one outcome per order (`order_outcomes`) and `rule` combines them;
    a pointwise scheme gives one outcome (rule "n/a").
    `failed` says who could not answer (the candidate, also when its answer failed its guard; the
    reference; the judge): the item is then a loss for the candidate and `error` says why.
    `settings` is everything that shaped the verdict; a rerun reuses the item only when they match.
    """

    id: str
    category: str
    instruction: str
    candidate_response: str | None = None
    reference_response: str | None = None
    verdict: Verdict | None = None
    order_outcomes: list[WinTieLoss] = []
    outcome: WinTieLoss | None = None
    rule: str
    error: str | None = None
    failed: Failure | None = None
    models: dict[str, str] = {}
    guards: dict[str, str] = {}  # candidate / reference: the answer guard's finding ("ok", "cut_off", ...)
    settings: dict[str, Any] = {}


class Tally(BaseModel):
    """Counts and CRR over a group of items. Every item counts: a failed item is a loss (in `losses`,
    and counted again in `failed`), so a candidate that fails more never scores higher."""

    category: str
    items: int
    wins: int
    ties: int
    losses: int
    failed: int
    crr: float | None

    @classmethod
    def of(cls, category: str, items: Iterable[ItemJudgment]) -> "Tally":
        items = list(items)
        outcomes = [i.outcome or "loss" for i in items]
        counts = Counter(outcomes)
        return cls(category=category, items=len(items), wins=counts["win"], ties=counts["tie"], losses=counts["loss"],
                   failed=sum(i.failed is not None for i in items), crr=crr(outcomes))


class JudgeConsistency(BaseModel):
    """The judge's figures visible from the eval itself. `orders_agree` and `first_position_wins` exist only
    for a both-orders scheme (None for a pointwise one: each answer is rated alone, there is no order)."""

    orders_agree: float | None  # share of items whose two orders prefer the same answer
    first_position_wins: float | None  # share of decisive order-judgments won by the answer shown first
    mean_candidate_score: float | None
    mean_reference_score: float | None

    @classmethod
    def of(cls, items: Iterable[ItemJudgment]) -> "JudgeConsistency":
        verdicts = [i.verdict for i in items if i.verdict is not None]
        paired = [v for v in verdicts if len(v.orders) > 1]
        orders = [o for v in verdicts for o in v.orders]
        return cls(
            orders_agree=_mean(v.orders_agree for v in paired),
            first_position_wins=_mean(o.first_preferred for v in paired for o in v.orders if o.first_preferred is not None),
            mean_candidate_score=_mean(o.target for o in orders),
            mean_reference_score=_mean(o.strong for o in orders),
        )


class EvalReport(BaseModel):
    """CRR of a candidate against a reference on one benchmark; `items` are the per-item judgments."""

    benchmark: str
    split: str | None = None  # the bundled set's split scored (default test); None for a file of one's own
    rule: str  # paper / alpagasus, or "n/a" for a pointwise scheme
    outcome_kind: OutcomeKind
    candidate: str
    reference: str
    judge: str
    judge_scheme: str
    judge_is_reference: bool = False
    judge_is_candidate: bool = False
    warnings: list[str] = []
    seeds: dict[str, Any] = {}  # the program's seeds: path and bundled split, if any
    settings: dict[str, Any] = {}  # what shaped every verdict (the resume key)
    total: int
    overall: Tally
    failures: dict[str, int] = {}  # failed items by who failed: candidate / reference / judge
    ci_low: float | None
    ci_high: float | None
    confidence: float
    bootstrap_samples: int
    seed: int
    per_category: list[Tally]
    judge_consistency: JudgeConsistency
    usage: dict[str, Any] = {}  # this eval's calls, cache hits and tokens (the session's ledger)
    reused: int = 0  # items judged by an earlier run with the same settings
    judged_again: int = 0  # stored items made with other settings, judged again rather than mixed in
    items_path: str | None = None
    items: list[ItemJudgment] = []

    @property
    def crr(self) -> float | None:
        return self.overall.crr

    @classmethod
    def build(cls, items: list[ItemJudgment], *, confidence: float, samples: int, seed: int, **labels) -> "EvalReport":
        outcomes = [i.outcome or "loss" for i in items]
        ci = bootstrap_ci(outcomes, samples, confidence, seed)
        categories = sorted({i.category for i in items})
        return cls(
            total=len(items), overall=Tally.of("overall", items),
            failures=dict(Counter(i.failed for i in items if i.failed is not None)),
            ci_low=ci[0] if ci else None, ci_high=ci[1] if ci else None,
            confidence=confidence, bootstrap_samples=samples, seed=seed,
            per_category=[Tally.of(c, (i for i in items if i.category == c)) for c in categories],
            judge_consistency=JudgeConsistency.of(items), items=items, **labels,
        )


def _mean(values: Iterable[float | bool]) -> float | None:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else None
