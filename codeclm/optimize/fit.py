"""Benchmark fit: how close a generated instruction's metadata is to the benchmark's.

The instruction is encoded by the program's own Encode step (a cached call) into a use case
and skills, and compared with every metadata encoded from the benchmark's optimization part.
One pair's similarity is the mean of two word Jaccard similarities: use-case words, and the
words of all skills together (lowercased, stopwords dropped, a plural "s" stripped). The fit
is the best pair: 1.0 when the instruction re-encodes to the words of a benchmark metadata,
0.0 when it shares no content word with any. Nearest-neighbour, not an average: a benchmark
has several kinds of instruction, and fitting one of them well is fitting the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeclm.overlap import words
from codeclm.signatures import Metadata

STOPWORDS = frozenset(
    "a an and are as at be by for from how in into is it its of on or that the their this to using use with "
    "your you".split()
)


def content_words(text: str) -> frozenset[str]:
    """Lowercased words without stopwords, a plural 's' stripped ('skills' -> 'skill', 'queries' -> 'query')."""
    found = set()
    for word in words(text):
        if word in STOPWORDS:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.add(word)
    return frozenset(found)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|; 0.0 when both are empty."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def similarity(a: Metadata, b: Metadata) -> float:
    """Mean of the use-case word Jaccard and the skill word Jaccard, in [0, 1]."""
    use_case = jaccard(content_words(a.use_case), content_words(b.use_case))
    skills = jaccard(content_words(" ".join(a.skills)), content_words(" ".join(b.skills)))
    return (use_case + skills) / 2


@dataclass(frozen=True)
class Fit:
    """The fit score and the benchmark metadata it was measured against (None for an empty pool)."""

    score: float
    nearest: Metadata | None


def benchmark_fit(metadata: Metadata, pool: list[Metadata]) -> Fit:
    """The best similarity of `metadata` to any metadata of the pool."""
    best = max(((similarity(metadata, p), i) for i, p in enumerate(pool)), default=None)
    return Fit(0.0, None) if best is None else Fit(best[0], pool[best[1]])
