"""Near-duplicate instructions across a whole output, found before they cost a strong answer.

MinHash over word 3-grams with an LSH index (`datasketch`, candidates at Jaccard ~0.5): each lookup is a few
hash-table probes, so
the index scales to 100,000s of instructions (benchmarks/dedup_scale.py measures it), where Self-Instruct's
rule (ROUGE-L against every pool member, codeclm.programs.filters) grows with the pool. LSH gives
candidates; each candidate is confirmed by the exact Jaccard similarity of the two 3-gram sets, so a
drop always names the instruction it repeats and the exact similarity.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

THRESHOLD = 0.7  # Jaccard similarity of word 3-grams at which two instructions are near-duplicates
NUM_PERM = 128
# LSH finds candidates at a lower threshold than the rule: a MinHash estimate near 0.7 is as likely to fall below
# as above, and an index at 0.7 misses about half of the pairs just above it. Candidates are confirmed exactly.
CANDIDATE_THRESHOLD = 0.5
_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, n: int = 3) -> frozenset[str]:
    """Lower-cased word n-grams (the whole text as one shingle when it has fewer than n words)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass(frozen=True)
class Match:
    id: str
    text: str
    similarity: float


class NearDuplicateIndex:
    """Instructions seen so far; `match` names an earlier one whose 3-gram Jaccard is >= `threshold`."""

    def __init__(self, threshold: float = THRESHOLD, num_perm: int = NUM_PERM):
        from datasketch import MinHash, MinHashLSH

        self._minhash = lambda: MinHash(num_perm=num_perm, seed=1)
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=min(threshold, CANDIDATE_THRESHOLD), num_perm=num_perm)
        self.texts: dict[str, tuple[str, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.texts)

    def _sketch(self, grams: frozenset[str]):
        m = self._minhash()
        m.update_batch([g.encode("utf-8") for g in sorted(grams)])
        return m

    def match(self, text: str, own_id: str | None = None) -> Match | None:
        """The most similar indexed instruction at or above the threshold (never `own_id` itself)."""
        return self._lookup(own_id, text, add=False)

    def add(self, item_id: str, text: str) -> None:
        self._lookup(item_id, text, add=True, always=True)

    def check_and_add(self, item_id: str, text: str) -> Match | None:
        """`match`, and index the instruction when it is new (not a near-duplicate)."""
        return self._lookup(item_id, text, add=True)

    def _lookup(self, item_id: str | None, text: str, add: bool, always: bool = False) -> Match | None:
        grams = shingles(text)
        sketch = self._sketch(grams)
        with self._lock:
            found = None
            if not always:
                scored = [(jaccard(grams, self.texts[key][1]), key) for key in self.lsh.query(sketch) if key != item_id]
                best = max(scored, default=None)
                if best is not None and best[0] >= self.threshold:
                    found = Match(best[1], self.texts[best[1]][0], best[0])
            if add and found is None and item_id is not None and item_id not in self.texts:
                self.texts[item_id] = (text, grams)
                self.lsh.insert(item_id, sketch)
        return found
