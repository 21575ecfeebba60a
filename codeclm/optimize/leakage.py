"""The leak guard: a generated instruction must not copy a held-out or a test item.

An instruction that overlaps (codeclm.evaluation.overlap: a shared run of 8 words, or ROUGE-L F1 > 0.7)
an item of the benchmark's held-out part, or any item of the test sets in `optimize.protect`
(default: the bundled vicuna and self_instruct, which `codeclm eval` tests on), scores zero
and is flagged in the optimization report. When the benchmark is itself a protected set, its
optimization part is protected too: training data that copies a test set's item contaminates
any later evaluation on that set. The metric's feedback (which GEPA shows its reflection LM)
names a copied item by id, never by its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from codeclm.evaluation.benchmarks import BenchmarkItem, load_benchmark
from codeclm.evaluation.overlap import NGRAM, ROUGE_THRESHOLD, OverlapIndex


@dataclass(frozen=True)
class Leak:
    """The protected item a generated instruction overlaps."""

    source: str  # "held-out" or "test:<set name>"
    item_id: str
    rouge_l: float
    shared_ngram: bool

    def describe(self) -> str:
        how = f"shares a run of {NGRAM} words with" if self.shared_ngram else f"is ROUGE-L {self.rouge_l:.2f} close to"
        return f"it {how} {self.source} benchmark item {self.item_id}"


class LeakGuard:
    """The held-out items and every protected test set's items, indexed for `check`."""

    def __init__(self, heldout: list[BenchmarkItem], tests: dict[str, list[BenchmarkItem]]):
        self.sources: list[tuple[str, str]] = [("held-out", i.id) for i in heldout]
        texts = [i.instruction for i in heldout]
        for name, items in tests.items():
            self.sources += [(f"test:{name}", i.id) for i in items]
            texts += [i.instruction for i in items]
        self.index = OverlapIndex(texts, [str(n) for n in range(len(texts))])

    def __len__(self) -> int:
        return len(self.sources)

    def check(self, text: str) -> Leak | None:
        match = self.index.match(text)
        if match is None:
            return None
        source, item_id = self.sources[int(match.item_id)]
        return Leak(source, item_id, round(match.rouge_l, 3), match.shared_ngram)


def load_protected(names: list[str], resolve: Callable[[str], Path]) -> dict[str, list[BenchmarkItem]]:
    """Each protected test set's items: a bundled name, or a file path (relative to the program file)."""
    from codeclm.evaluation.benchmarks import BUNDLED

    sets = {}
    for name in names:
        display, items = load_benchmark(name if name in BUNDLED else str(resolve(name)))
        sets[display] = items
    return sets


THRESHOLDS = {"ngram": NGRAM, "rouge_l": ROUGE_THRESHOLD}
