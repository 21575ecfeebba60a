"""The benchmark split: an optimization part (encoded into training metadata) and a held-out part.

The benchmark's instructions are shuffled with the program's seed and cut at `split` (the
optimization part's share). The optimization part is encoded into the metadata the optimizer
trains on and the benchmark-fit reference; the held-out part is encoded only for the
before/after figures. No held-out text is ever sent in a request made by an optimizer, and
the metric names a copied held-out item by id only (codeclm.optimize.leakage).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from codeclm.errors import OptimizeError
from codeclm.evaluation.benchmarks import BenchmarkItem


@dataclass(frozen=True)
class BenchmarkSplit:
    name: str
    share: float
    seed: int
    optimization: list[BenchmarkItem]
    heldout: list[BenchmarkItem]

    def ids(self) -> dict[str, list[str]]:
        return {"optimization": [i.id for i in self.optimization], "heldout": [i.id for i in self.heldout]}


def split_benchmark(name: str, items: list[BenchmarkItem], share: float, seed: int) -> BenchmarkSplit:
    """A seeded shuffle of `items`, cut so that round(share * n) items (at least 1, at most n - 1) are for optimization."""
    if not 0 < share < 1:
        raise OptimizeError(f"--split {share}: the optimization part's share must be between 0 and 1, e.g. 0.5")
    if len(items) < 2:
        raise OptimizeError(f"benchmark {name} has {len(items)} instruction: need at least 2 (one to optimize on, one held out)")
    order = list(items)
    random.Random(f"{seed}:optimize-split:{name}").shuffle(order)
    cut = min(max(round(share * len(order)), 1), len(order) - 1)
    return BenchmarkSplit(name, share, seed, order[:cut], order[cut:])
