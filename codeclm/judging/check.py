"""Check a filter signal on what it decides: on items whose right decision is known, is the decision the
filter takes at its threshold (gap > theta: keep the strong answer) right?

Run before every run that filters, and by `codeclm judge check`. An item's right decision
comes from the target itself (codeclm.judging.checkset): keep where the target fails the task,
send back where it solves it. The check cannot be passed trivially: it needs at least 24
items and 8 of each decision, and both decisions must be mostly right, so a signal that always
keeps (or never keeps) fails however the items fall. Pass: accuracy >= min_accuracy and the
Wilson 95% lower bound above 0.5 (better than a coin, with 95% confidence).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Callable, Literal

from pydantic import BaseModel

from codeclm.errors import StepError
from codeclm.executors import Executor, ThreadExecutor
from codeclm.guards import Answer
from codeclm.judging.checkset import CheckItem, solved

MIN_ITEMS, MIN_PER_DECISION = 24, 8
Decision = Literal["keep", "send_back"]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95% for z = 1.96); (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre, spread, scale = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)), 1 + z * z / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


class ItemResult(BaseModel):
    """One check item: the target's own answer, whether it solved the task, the gap and the filter's decision."""

    id: str
    family: str
    target_answer: str | None = None
    target_solved: bool | None = None
    right: Decision | None = None
    gap: float | None = None
    decided: Decision | None = None
    error: str | None = None

    @property
    def correct(self) -> bool:
        return self.decided is not None and self.decided == self.right


class CheckReport(BaseModel):
    """A filter signal's figures at its threshold; every accuracy carries its n and 95% interval."""

    scheme: str
    judge_model: str
    target_model: str
    theta: float
    min_accuracy: float
    items: int
    correct: int
    failed: int
    accuracy: float
    ci_low: float
    ci_high: float
    sign_accuracy: float  # reading gap > 0 as "keep": beside the decision at theta, as the filter does not decide so
    by_decision: dict[str, str]  # keep / send_back: right / n
    by_family: dict[str, str]
    seconds_per_item: float
    passed: bool
    verdict: str
    calls: int = 0  # paid LLM calls the check made (0 when every answer came from the cache)
    results: list[ItemResult] = []

    def line(self) -> str:
        """'41/60 right at theta 0.45 (68%, 95% CI 56-79%), keep 27/35, send back 14/25, gap > 0 58%: passed'."""
        kinds = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.by_decision.items())
        return (f"{self.correct}/{self.items} right at theta {self.theta:g} ({self.accuracy:.0%}, 95% CI "
                f"{self.ci_low:.0%}-{self.ci_high:.0%}), {kinds}, gap > 0 {self.sign_accuracy:.0%}: {self.verdict}")


def run_check(judge, answer_target: Callable[[str, str], Answer], items: list[CheckItem], *, theta: float,
              min_accuracy: float, executor: Executor | None = None, target_model: str = "?") -> CheckReport:
    """Judge every item (its correct answer as the strong answer, the target's own answer as the target's)."""
    started = time.time()

    def one(item: CheckItem) -> ItemResult:
        key = f"check/{item.id}"
        result = ItemResult(id=item.id, family=item.family)
        try:
            target = answer_target(item.instruction, key)
            result.target_answer, result.target_solved = target.text, solved(item, target.text)
            result.right = "send_back" if result.target_solved else "keep"
            verdict = judge(instruction=item.instruction, strong=item.answer, target=target.text, key=key)
        except StepError as exc:
            result.error = str(exc)
            return result
        result.gap = verdict.gap
        result.decided = "keep" if verdict.gap > theta else "send_back"
        return result

    outcomes = (executor or ThreadExecutor(1)).map("check", one, items)
    results = [o.value if o.ok else ItemResult(id=o.item.id, family=o.item.family, error=o.error) for o in outcomes]
    return report(judge.scheme, getattr(judge, "model_name", None) or "?", target_model, results, theta, min_accuracy,
                  (time.time() - started) / max(1, len(items)))


def report(scheme: str, judge_model: str, target_model: str, results: list[ItemResult], theta: float,
           min_accuracy: float, seconds_per_item: float) -> CheckReport:
    """The figures and the verdict; failed items count as wrong."""
    n = len(results)
    correct = sum(r.correct for r in results)
    low, high = wilson(correct, n)
    labelled = [r for r in results if r.right is not None]
    per = {d: [r for r in labelled if r.right == d] for d in ("keep", "send_back")}
    per_accuracy = {d: sum(r.correct for r in rs) / len(rs) if rs else 0.0 for d, rs in per.items()}
    families = Counter(r.family for r in results)
    right_by_family = Counter(r.family for r in results if r.correct)
    sign = [((r.gap or 0) > 0) == (r.right == "keep") for r in labelled if r.gap is not None]
    accuracy = correct / n if n else 0.0
    verdict, passed = _verdict(n, {d: len(rs) for d, rs in per.items()}, per_accuracy, accuracy, low, min_accuracy)
    return CheckReport(
        scheme=scheme, judge_model=judge_model, target_model=target_model, theta=theta, min_accuracy=min_accuracy,
        items=n, correct=correct, failed=sum(r.error is not None for r in results), accuracy=accuracy, ci_low=low, ci_high=high,
        sign_accuracy=sum(sign) / len(sign) if sign else 0.0,
        by_decision={d: f"{sum(r.correct for r in rs)}/{len(rs)}" for d, rs in per.items()},
        by_family={f: f"{right_by_family[f]}/{families[f]}" for f in sorted(families)},
        seconds_per_item=round(seconds_per_item, 2), passed=passed, verdict=verdict, results=results,
    )


def _verdict(n: int, counts: dict[str, int], per_accuracy: dict[str, float], accuracy: float, low: float,
             min_accuracy: float) -> tuple[str, bool]:
    if n < MIN_ITEMS or min(counts.values()) < MIN_PER_DECISION:
        return (f"inconclusive (needs {MIN_ITEMS}+ items and {MIN_PER_DECISION}+ of each decision; got keep "
                f"{counts['keep']}, send back {counts['send_back']}: add items the target fails or solves)"), False
    lacking = [f"accuracy {accuracy:.0%} < {min_accuracy:.0%}"] if accuracy < min_accuracy else []
    lacking += [f"95% lower bound {low:.2f} <= 0.5"] if low <= 0.5 else []
    lacking += [f"{d.replace('_', ' ')} decisions {a:.0%} right" for d, a in per_accuracy.items() if a < 0.5]
    return ("passed", True) if not lacking else (f"FAILED ({'; '.join(lacking)})", False)
