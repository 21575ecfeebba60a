"""Metadata enlargement (paper Sec. 3.1): mix and match use cases and skills, no LLM."""

from __future__ import annotations

import random

import dspy

from codeclm.steps.signatures import MAX_SKILLS, Metadata


class Enlarge(dspy.Module):
    """Grow the encoded metadata to `n` distinct entries by recombining use cases and skills.

    The encoded metadata come first (deduplicated, in order); new entries pair a
    sampled use case with 1..3 sampled skills. Deterministic for a given seed.
    If `n` is smaller than the encoded set, a seeded sample of it is returned.
    """

    def __init__(self, seed: int = 0, num_skills: int = MAX_SKILLS):
        super().__init__()
        self.seed = seed
        self.num_skills = num_skills

    def forward(self, metadata: list[Metadata], n: int) -> list[Metadata]:
        rng = random.Random(self.seed)
        pool: dict[str, Metadata] = {}
        for item in metadata:
            pool.setdefault(item.key(), item)
        originals = list(pool.values())
        if n <= len(originals):
            return rng.sample(originals, n) if n < len(originals) else originals
        use_cases = sorted({m.use_case for m in originals})
        skills = sorted({s for m in originals for s in m.skills})
        result = list(originals)
        max_new = _combinations_bound(len(use_cases), len(skills), self.num_skills)
        attempts = 0
        while len(result) < n and len(pool) < len(originals) + max_new and attempts < 50 * n:
            attempts += 1
            k = rng.randint(1, min(self.num_skills, len(skills)))
            candidate = Metadata(use_case=rng.choice(use_cases), skills=rng.sample(skills, k))
            if candidate.key() not in pool:
                pool[candidate.key()] = candidate
                result.append(candidate)
        return result


def _combinations_bound(use_cases: int, skills: int, max_k: int) -> int:
    from math import comb

    return use_cases * sum(comb(skills, k) for k in range(1, min(max_k, skills) + 1))
