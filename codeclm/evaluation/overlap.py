"""Overlap of generated instructions with benchmark items (leakage of test items into training data).

An instruction overlaps a benchmark item when they share a run of `ngram` words (default 8,
lowercased, punctuation dropped), or when their ROUGE-L F1 is above `rouge_threshold` (default
0.7: Self-Instruct's near-duplicate threshold). ROUGE-L is computed only against items that
share a word 3-gram with the instruction (an inverted index), so checking many instructions
against hundreds of items stays fast. `overlap_summary` counts a dataset's overlaps with every
item of the bundled benchmarks, both splits (run summary, `codeclm report`).
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from codeclm.words import words

NGRAM, ROUGE_THRESHOLD, SEED_NGRAM = 8, 0.7, 3
RULE = f"a shared run of {NGRAM} words, or ROUGE-L F1 > {ROUGE_THRESHOLD}, with an item of a bundled benchmark"


@dataclass(frozen=True)
class Match:
    """The benchmark item an instruction overlaps, and why."""

    item_id: str
    item: str
    rouge_l: float
    shared_ngram: bool


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


class OverlapIndex:
    """Benchmark items, indexed for `match`."""

    def __init__(self, items: list[str], ids: list[str] | None = None, *, ngram: int = NGRAM,
                 rouge_threshold: float = ROUGE_THRESHOLD):
        from rouge_score import rouge_scorer

        self.items, self.ids = list(items), list(ids) if ids is not None else [str(i) for i in range(len(items))]
        self.ngram, self.rouge_threshold = ngram, rouge_threshold
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        self._seeds: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self._long: dict[tuple[str, ...], int] = {}
        for index, text in enumerate(self.items):
            tokens = words(text)
            for gram in ngrams(tokens, SEED_NGRAM) or {tuple(tokens)}:
                self._seeds[gram].add(index)
            for gram in ngrams(tokens, ngram):
                self._long.setdefault(gram, index)

    def match(self, text: str) -> Match | None:
        """The item `text` overlaps most (a shared n-gram first, else the best ROUGE-L above threshold), or None."""
        tokens = words(text)
        for gram in ngrams(tokens, self.ngram):
            if gram in self._long:
                index = self._long[gram]
                return Match(self.ids[index], self.items[index], self._rouge(text, index), True)
        candidates = set().union(*(self._seeds.get(g, set()) for g in (ngrams(tokens, SEED_NGRAM) or {tuple(tokens)})))
        best = max(((self._rouge(text, i), i) for i in candidates), default=None)
        if best is not None and best[0] > self.rouge_threshold:
            return Match(self.ids[best[1]], self.items[best[1]], best[0], False)
        return None

    def _rouge(self, text: str, index: int) -> float:
        return self._scorer.score(self.items[index], text)["rougeL"].fmeasure


@functools.lru_cache(maxsize=4)
def bundled_benchmarks_index(names: tuple[str, ...] = ("vicuna", "self_instruct")) -> OverlapIndex:
    """Every item of the bundled evaluation benchmarks, both splits (instruction text, as `codeclm eval` reads it);
    ids are `benchmark:split:item id`, e.g. `vicuna:test:12`."""
    from codeclm.evaluation.benchmarks import load_benchmark

    texts, ids = [], []
    for name in names:
        display, items = load_benchmark(f"{name}:all")
        seeds = {i.id for i in load_benchmark(f"{name}:seed")[1]}
        texts += [i.instruction for i in items]
        ids += [f"{display}:{'seed' if i.id in seeds else 'test'}:{i.id}" for i in items]
    return OverlapIndex(texts, ids)


def overlap_summary(instructions: list[tuple[str, str]], examples: int = 3) -> dict[str, Any]:
    """How many of `instructions` ((id, text) pairs) overlap a bundled benchmark item, per benchmark split,
    with the first `examples` of them."""
    index = bundled_benchmarks_index()
    found = [(rid, text, match) for rid, text in instructions if (match := index.match(text)) is not None]
    return {
        "rule": RULE,
        "checked": len(instructions),
        "overlapping": len(found),
        "by_split": dict(Counter(":".join(m.item_id.split(":", 2)[:2]) for _, _, m in found)),  # e.g. vicuna:test
        "examples": [{"id": rid, "instruction": text, "item_id": m.item_id, "item": m.item, "rouge_l": round(m.rouge_l, 3),
                      "shared_run": m.shared_ngram} for rid, text, m in found[:examples]],
    }
