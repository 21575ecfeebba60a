"""Trivial baselines for the filter check: rules that read no model's judgement, only sizes and categories.

A filter signal earns its place only if it decides better than these on the same items: answer
lengths, instruction length, the strong answer's new-word count, the use case's majority label, and
always the majority decision. Each rule's threshold and direction are fit on the dev split; the best
on dev is the one the check compares against on the check split. Rules are fit and compared on
balanced accuracy (the mean of the keep and the send-back accuracy): on a set where most items are
"keep", plain accuracy would crown "always keep", a filter that never sends anything back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence
from codeclm.words import words

def features(instruction: str, strong: str, target: str | None) -> dict[str, float]:
    """The sizes a trivial rule may read."""
    s, t, i = words(strong), words(target), words(instruction)
    asked = set(i)
    return {"strong answer words": len(s), "target answer words": len(t), "strong/target length ratio": len(s) / max(1, len(t)),
            "instruction words": len(i), "new words in the strong answer": sum(w not in asked for w in s)}


def balanced_accuracy(decided: Sequence[str], labels: Sequence[str]) -> float:
    """Mean over the labels present (keep, send_back) of the share decided right."""
    per = [[d == label for d, label in zip(decided, labels) if label == kind] for kind in ("keep", "send_back")]
    per = [sum(p) / len(p) for p in per if p]
    return sum(per) / len(per) if per else 0.0


@dataclass(frozen=True)
class Rule:
    """A fitted trivial rule: `decide(case)` -> "keep" or "send_back"; `dev_accuracy`: balanced, where it was fit."""

    name: str
    decide: Callable[[object], str]
    dev_accuracy: float


def fit_threshold(values: Sequence[float], labels: Sequence[str]) -> tuple[float, int, float]:
    """(cut, direction, balanced accuracy) of the best rule "keep when direction * (value - cut) > 0", cuts
    between the observed values (ties: the first found, from the lowest cut, direction 1 before -1)."""
    points = sorted(set(values))
    cuts = [points[0] - 1] + [(a + b) / 2 for a, b in zip(points, points[1:])] + [points[-1] + 1]
    best = (cuts[0], 1, -1.0)
    for cut in cuts:
        for direction in (1, -1):
            score = balanced_accuracy(["keep" if direction * (v - cut) > 0 else "send_back" for v in values], labels)
            if score > best[2]:
                best = (cut, direction, score)
    return best


def majority_by_use_case(labels: Sequence[str], use_cases: Sequence[str]) -> Callable[[str], str]:
    """use case -> its majority label among these items (the overall majority for a use case not among them)."""
    majority = Counter(labels).most_common(1)[0][0]
    per_use_case: dict[str, Counter] = {}
    for label, use_case in zip(labels, use_cases):
        per_use_case.setdefault(use_case, Counter())[label] += 1
    return lambda use_case: per_use_case[use_case].most_common(1)[0][0] if use_case in per_use_case else majority


def _threshold_rule(name: str, values: list[float], labels: list[str]) -> Rule:
    cut, direction, score = fit_threshold(values, labels)
    sign = ">" if direction > 0 else "<"
    return Rule(f"{name} {sign} {cut:g}", lambda c: "keep" if direction * (c.features[name] - cut) > 0 else "send_back", score)


def fit_rules(dev: Sequence) -> list[Rule]:
    """Every trivial rule fit on `dev` (cases with `.label` keep/send_back, `.features`, `.use_case`)."""
    if not dev:
        return []
    labels = [c.label for c in dev]
    majority = Counter(labels).most_common(1)[0][0]
    use_case_majority = majority_by_use_case(labels, [c.use_case for c in dev])

    def by_use_case(c) -> str:
        return use_case_majority(c.use_case)

    rules = [Rule(f"always {majority.replace('_', ' ')}", lambda c: majority, balanced_accuracy([majority] * len(labels), labels)),
             Rule("use case's majority on dev", by_use_case, balanced_accuracy([by_use_case(c) for c in dev], labels))]
    rules += [_threshold_rule(name, [c.features[name] for c in dev], labels) for name in dev[0].features]
    return rules


def best_rule(dev: Sequence) -> Rule | None:
    """The trivial rule with the best dev accuracy (ties: the first listed, the simplest)."""
    rules = fit_rules(dev)
    return max(rules, key=lambda r: r.dev_accuracy) if rules else None


def fit_theta(gaps: list[float], labels: list[str]) -> tuple[float, float]:
    """(theta, balanced accuracy): the cut between observed gaps where "keep if gap > theta" has the best mean of the
    keep and the send-back accuracy on these items (plain accuracy would favour keeping everything on a set that
    is mostly "keep"). Ties go to the larger theta (an unneeded keep costs a pair the target did not need)."""
    if not gaps:
        raise ValueError("no items to fit theta on")
    points = sorted(set(gaps))
    cuts = [max(0.0, points[0] - 1e-3)] + [(a + b) / 2 for a, b in zip(points, points[1:])] + [points[-1] + 1e-3]
    best = (-1.0, 0.0)
    for cut in cuts:
        score = balanced_accuracy(["keep" if g > cut else "send_back" for g in gaps], labels)
        if score >= best[0]:
            best = (score, cut)
    return round(best[1], 4), best[0]
