"""Benchmark fit: how close a generated instruction's metadata is to the benchmark's.

The instruction is encoded by the program's own Encode step (a cached call) into a use case and
skills, and compared with the metadata encoded from the benchmark's optimization part (the fit
pool). Use cases and skills are matched separately, as CodecLM's metadata enlargement treats
them: any known use case combined with any known skills is metadata of the benchmark's kind.

    fit = 1/2 * max over the pool's use cases of J(use case words)
        + 1/2 * mean over the instruction's skills of (max over the pool's skills of J(skill words))

J is the Jaccard similarity of two word sets (lowercased, stopwords dropped, a plural "s"
stripped). 1.0: the instruction re-encodes to a use case and skills the benchmark has; 0.0: it
shares no content word with any of them. A small pool on a diverse benchmark makes every fit
low; raise `optimize.fit_pool`.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeclm.words import words
from codeclm.steps.signatures import Metadata

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


def _best(phrase: str, known: list[str]) -> tuple[float, str | None]:
    target = content_words(phrase)
    return max(((jaccard(target, content_words(k)), k) for k in known), default=(0.0, None))


@dataclass(frozen=True)
class Fit:
    """The fit score and the closest benchmark use case and skills it was measured against."""

    score: float
    use_case: str | None = None
    skills: tuple[str, ...] = ()

    def nearest(self) -> str:
        return f"use case '{self.use_case}', skills {', '.join(s for s in self.skills if s) or 'none'}"


def benchmark_fit(metadata: Metadata, pool: list[Metadata]) -> Fit:
    """`metadata`'s fit to the pool (see the module docstring)."""
    if not pool:
        return Fit(0.0)
    use_case, nearest_use_case = _best(metadata.use_case, sorted({p.use_case for p in pool}))
    known_skills = sorted({s for p in pool for s in p.skills})
    skills = [_best(s, known_skills) for s in metadata.skills] or [(0.0, None)]
    score = (use_case + sum(s for s, _ in skills) / len(skills)) / 2
    return Fit(score, nearest_use_case, tuple(k for _, k in skills if k))
