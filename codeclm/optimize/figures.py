"""Before/after figures: the held-out mean metric and a paired bootstrap interval of the difference.

Each held-out example is scored by the program before and after optimizing; the interval is a
percentile bootstrap (seeded, so reproducible) of the mean of the per-example differences
(after - before). An interval that contains 0 means the held-out split cannot tell the two
programs apart: "no difference".
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Comparison:
    before: float
    after: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    samples: int
    seed: int
    examples: int

    @property
    def verdict(self) -> str:
        if self.ci_low <= 0 <= self.ci_high:
            return "no difference"
        return "better" if self.ci_low > 0 else "worse"

    def line(self) -> str:
        return (f"held-out metric {self.before:.3f} -> {self.after:.3f} (difference {self.difference:+.3f}, "
                f"{self.confidence:.0%} CI {self.ci_low:+.3f} to {self.ci_high:+.3f}, n={self.examples}): {self.verdict}")

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def paired_bootstrap(before: list[float], after: list[float], *, samples: int = 1000, confidence: float = 0.95,
                     seed: int = 0) -> Comparison:
    """Mean before/after and the percentile bootstrap CI of mean(after - before), resampling examples."""
    if len(before) != len(after) or not before:
        raise ValueError(f"need paired, non-empty scores (got {len(before)} before, {len(after)} after)")
    diffs = [a - b for a, b in zip(after, before)]
    rng = random.Random(seed)
    n = len(diffs)
    stats = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    tail = (1 - confidence) / 2
    low, high = stats[int(tail * (samples - 1))], stats[int(round((1 - tail) * (samples - 1)))]
    return Comparison(mean(before), mean(after), mean(diffs), low, high, confidence, samples, seed, n)
