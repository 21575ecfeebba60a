"""Check the filter on what it decides: on items whose right decision is known, does the filter's own path
(instruction guard, answer guards, the signal at theta, `outcome`) take it?

Run before every run that filters, and by `codeclm judge check`. Items come with both answers and a
label (codeclm.check.labelled: read by people; or a quiz whose label follows from whether the target's
own answer holds the known result, codeclm.check.cases). A pass needs, on the keep / send_back items:
accuracy >= min_accuracy, a Wilson 95% lower bound above 0.5, each decision right at least half the time,
and a paired bootstrap 95% interval of the balanced-accuracy difference to the best trivial baseline
(codeclm.check.baselines, fit on dev) above 0: a signal that a length rule matches proves nothing.
Balanced accuracy (mean of the keep and the send-back accuracy) because the labelled items are mostly
"keep": plain accuracy would let "always keep" look good.
The guards are measured on the invalid / bad-answer items beside it.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from typing import Literal

from pydantic import BaseModel

from codeclm.errors import StepError
from codeclm.executors import Executor, ThreadExecutor
from codeclm.steps.guards import Answer
from codeclm.check.baselines import Rule, balanced_accuracy, best_rule, features
from codeclm.steps.contrast import ContrastiveFilter, outcome

MIN_ITEMS, MIN_PER_DECISION = 24, 8
STRONG_TARGET_SHARE = 0.85  # the target does this share of the items as well as the strong model: nearly all too easy
DECISIONS = ("keep", "send_back")
Decided = Literal["keep", "send_back", "keep_target", "drop"]
_DECIDED = {"keep_strong": "keep", "keep_target": "keep_target", "improve": "send_back", "drop": "send_back",
            "unanswerable": "drop", "bad_answer": "drop"}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95% for z = 1.96); (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre, spread, scale = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)), 1 + z * z / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


class Case(BaseModel):
    """One item as the filter meets it: the instruction, the answers, and the right label."""

    id: str
    family: str
    instruction: str
    strong: Answer
    target: Answer | None = None
    label: str
    use_case: str = ""
    iteration: int = 1

    @property
    def features(self) -> dict[str, float]:
        return features(self.instruction, self.strong.text, self.target.text if self.target else None)


def is_right(label: str | None, decided: str | None) -> bool:
    """keep -> kept; send_back -> sent back (or the target's answer kept); invalid / bad_answer -> dropped."""
    if label is None or decided is None:
        return False
    if label == "keep":
        return decided == "keep"
    if label == "send_back":
        return decided in ("send_back", "keep_target")
    return decided == "drop"


class ItemResult(BaseModel):
    """One check item: its label, the filter's decision and why, and the gap."""

    id: str
    family: str
    label: str | None = None
    decided: Decided | None = None
    reason: str | None = None
    gap: float | None = None
    target_answer: str | None = None
    error: str | None = None

    @property
    def correct(self) -> bool:
        return is_right(self.label, self.decided)


class CheckReport(BaseModel):
    """The filter's figures at its threshold; every accuracy carries its n and 95% interval."""

    scheme: str
    judge_model: str
    target_model: str
    theta: float
    min_accuracy: float
    source: str = ""  # which items: the labelled open-ended set, a user's labelled file, or the quiz family
    items: int  # keep / send_back items: the decisions graded
    correct: int
    failed: int
    accuracy: float
    balanced_accuracy: float = 0.0  # mean of the keep and the send-back accuracy
    ci_low: float
    ci_high: float
    sign_accuracy: float  # reading gap > 0 as "keep": beside the decision at theta
    by_decision: dict[str, str]  # keep / send_back: right / n
    by_family: dict[str, str]
    guards: dict[str, str] = {}  # invalid / bad_answer items dropped, valid items dropped by a guard
    kept_unusable: str = ""  # of the items the filter keeps, how many are invalid or bad answers
    baseline: dict = {}  # the best trivial rule on dev, its check accuracy, the paired difference's 95% interval
    seconds_per_item: float
    passed: bool
    status: Literal["passed", "failed", "inconclusive", "target_strong"] = "failed"
    verdict: str
    calls: int = 0  # paid LLM calls the check made (0 when every answer came from the cache)
    results: list[ItemResult] = []

    @property
    def target_is_the_strong_model(self) -> bool:
        """The target is the strong model itself (check/program.same_model_report): nothing was graded."""
        return self.status == "target_strong" and not self.items

    def line(self) -> str:
        """'41/60 right at theta 0.45 (68%, 95% CI 56-79%), keep 27/35, send back 14/25, ...: passed'."""
        if self.target_is_the_strong_model:
            return self.verdict
        kinds = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.by_decision.items())
        base = (f"; balanced {self.balanced_accuracy:.0%} vs the best trivial rule ({self.baseline['rule']}) "
                f"{self.baseline['check_accuracy']:.0%}, difference {self.baseline['difference_ci'][0]:+.0%} to "
                f"{self.baseline['difference_ci'][1]:+.0%}") if self.baseline else f"; balanced {self.balanced_accuracy:.0%}"
        return (f"{self.correct}/{self.items} right at theta {self.theta:g} ({self.accuracy:.0%}, 95% CI "
                f"{self.ci_low:.0%}-{self.ci_high:.0%}), {kinds}{base}: {self.verdict}")


def run_check(contrastive_filter: ContrastiveFilter, cases: list[Case], *, theta: float, min_accuracy: float,
              executor: Executor | None = None, target_model: str = "?", dev: list[Case] | None = None,
              source: str = "") -> CheckReport:
    """The filter's own path on every case (its answers given), graded against the cases' labels."""
    started = time.time()

    def one(case: Case) -> ItemResult:
        result = ItemResult(id=case.id, family=case.family, label=case.label,
                            target_answer=case.target.text if case.target else None)
        try:
            contrast = contrastive_filter(instruction=case.instruction, key=f"check/{case.id}", strong=case.strong, target=case.target)
        except StepError as exc:
            result.error = str(exc)
            return result
        decision = outcome(contrast, theta, iteration=1, max_iterations=2)
        result.decided, result.reason = _DECIDED[decision.action], decision.reason
        result.gap = contrast.verdict.gap if contrast.verdict else None
        return result

    outcomes = (executor or ThreadExecutor(1)).map("check", one, cases)
    results = [o.value if o.ok else ItemResult(id=o.item.id, family=o.item.family, label=o.item.label, error=o.error) for o in outcomes]
    judge = contrastive_filter.judge
    return report(judge.scheme, getattr(judge, "model_name", None) or "?", target_model, results, theta, min_accuracy,
                  (time.time() - started) / max(1, len(cases)), cases=cases, dev=dev or [], source=source)


def report(scheme: str, judge_model: str, target_model: str, results: list[ItemResult], theta: float, min_accuracy: float,
           seconds_per_item: float, *, cases: list[Case] | None = None, dev: list[Case] | None = None, source: str = "") -> CheckReport:
    """The figures and the verdict; failed items count as wrong."""
    graded = [r for r in results if r.label in DECISIONS]
    n, correct = len(graded), sum(r.correct for r in graded)
    low, high = wilson(correct, n)
    per = {d: [r for r in graded if r.label == d] for d in DECISIONS}
    per_accuracy = {d: sum(r.correct for r in rs) / len(rs) if rs else 0.0 for d, rs in per.items()}
    families = Counter(r.family for r in graded)
    right_by_family = Counter(r.family for r in graded if r.correct)
    sign = [(r.gap > 0) == (r.label == "keep") for r in graded if r.gap is not None]
    accuracy = correct / n if n else 0.0
    baseline = _baseline(graded, [c for c in (cases or []) if c.label in DECISIONS], [c for c in (dev or []) if c.label in DECISIONS])
    status, verdict = _verdict(n, {d: len(rs) for d, rs in per.items()}, per_accuracy, accuracy, low, min_accuracy, baseline)
    return CheckReport(
        scheme=scheme, judge_model=judge_model, target_model=target_model, theta=theta, min_accuracy=min_accuracy, source=source,
        items=n, correct=correct, failed=sum(r.error is not None for r in results), accuracy=accuracy,
        balanced_accuracy=balanced_accuracy([r.label if r.correct else _other(r.label) for r in graded], [r.label for r in graded]),
        ci_low=low, ci_high=high,
        sign_accuracy=sum(sign) / len(sign) if sign else 0.0,
        by_decision={d: f"{sum(r.correct for r in rs)}/{len(rs)}" for d, rs in per.items()},
        by_family={f: f"{right_by_family[f]}/{families[f]}" for f in sorted(families)},
        guards=_guards(results), kept_unusable=_kept_unusable(results), baseline=baseline,
        seconds_per_item=round(seconds_per_item, 2), passed=status == "passed", status=status, verdict=verdict, results=results,
    )


def _guards(results: list[ItemResult]) -> dict[str, str]:
    out = {}
    for label in ("invalid", "bad_answer"):
        rs = [r for r in results if r.label == label]
        if rs:
            out[f"{label} dropped"] = f"{sum(r.decided == 'drop' for r in rs)}/{len(rs)}"
    valid = [r for r in results if r.label in DECISIONS]
    if valid:
        out["valid items dropped by a guard"] = f"{sum(r.decided == 'drop' for r in valid)}/{len(valid)}"
    return out


def _kept_unusable(results: list[ItemResult]) -> str:
    kept = [r for r in results if r.decided == "keep"]
    return f"{sum(r.label in ('invalid', 'bad_answer') for r in kept)}/{len(kept)}"


def _other(label: str) -> str:
    return "send_back" if label == "keep" else "keep"


def _baseline(graded: list[ItemResult], cases: list[Case], dev: list[Case], resamples: int = 2000) -> dict:
    """The best trivial rule on dev, on the same check items: its balanced accuracy and the paired bootstrap 95%
    interval of the difference (the signal's minus the rule's)."""
    rule: Rule | None = best_rule(dev) if len(dev) >= MIN_PER_DECISION else None
    by_id = {c.id: c for c in cases}
    rows = [(r.label, r.label if r.correct else _other(r.label), rule.decide(by_id[r.id])) for r in graded if r.id in by_id] if rule else []
    if not rows:
        return {}

    def difference(sample) -> float:
        labels = [row[0] for row in sample]
        return balanced_accuracy([row[1] for row in sample], labels) - balanced_accuracy([row[2] for row in sample], labels)

    rng = random.Random(0)
    n = len(rows)
    diffs = sorted(difference([rows[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples))
    return {"rule": rule.name, "dev_accuracy": round(rule.dev_accuracy, 3),
            "check_accuracy": balanced_accuracy([row[2] for row in rows], [row[0] for row in rows]),
            "difference_ci": [diffs[int(0.025 * resamples)], diffs[int(0.975 * resamples) - 1]], "n": n}


def _verdict(n: int, counts: dict[str, int], per_accuracy: dict[str, float], accuracy: float, low: float,
             min_accuracy: float, baseline: dict) -> tuple[str, str]:
    if n and counts["send_back"] / n >= STRONG_TARGET_SHARE and counts["keep"] < MIN_PER_DECISION:
        return "target_strong", (f"target strong: it answers {counts['send_back']} of {n} items about as well as the strong "
                                 f"model, so nearly every instruction will be too easy (sent back, improved, dropped at the cap)")
    if n < MIN_ITEMS or min(counts.values()) < MIN_PER_DECISION:
        return "inconclusive", (f"inconclusive (needs {MIN_ITEMS}+ items and {MIN_PER_DECISION}+ of each decision; got keep "
                                f"{counts['keep']}, send back {counts['send_back']}: add labelled items)")
    lacking = [f"accuracy {accuracy:.0%} < {min_accuracy:.0%}"] if accuracy < min_accuracy else []
    lacking += [f"95% lower bound {low:.2f} <= 0.5"] if low <= 0.5 else []
    lacking += [f"{d.replace('_', ' ')} decisions {a:.0%} right" for d, a in per_accuracy.items() if a < 0.5]
    if baseline and baseline["difference_ci"][0] <= 0:
        lacking += [f"no better than the trivial rule '{baseline['rule']}' (difference 95% CI lower bound "
                    f"{baseline['difference_ci'][0]:+.0%})"]
    return ("passed", "passed") if not lacking else ("failed", f"FAILED ({'; '.join(lacking)})")
