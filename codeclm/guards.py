"""Answer guards: deterministic checks every answer passes through before any judging.

A strong answer that is cut off (finish_reason "length"), empty, a refusal, or degenerate
repetition must never become training data; a target answer with the same defects is only
recorded (the target failing is what Contrastive Filtering looks for).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Literal

from pydantic import BaseModel

Guard = Literal["ok", "cut_off", "empty", "refusal", "repetition"]

_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry,|i apologi[sz]e|i can(?:no|')t|i am (?:not able|unable)|i'm (?:not able|unable)"
    r"|as an ai\b|i (?:do not|don't) (?:have the ability|feel comfortable))", re.I)
REFUSAL_MAX_WORDS = 60  # a refusal is short; a long answer that opens with "Sorry, ..." usually goes on to answer


class Answer(BaseModel):
    """One model's answer with what the endpoint said about it and what the guards found."""

    text: str
    finish_reason: str | None = None
    completion_tokens: int | None = None
    max_tokens: int | None = None
    guard: Guard = "ok"

    @property
    def usable(self) -> bool:
        return self.guard == "ok"


def repetitive(text: str, n: int = 4, min_words: int = 40, max_unique_share: float = 0.35) -> bool:
    """Degenerate repetition: in a text of >= `min_words` words, few distinct word n-grams, or a line said 4+ times."""
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) > 10]
    if lines and Counter(lines).most_common(1)[0][1] >= 4:
        return True
    words = text.lower().split()
    if len(words) < min_words:
        return False
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) < max_unique_share


def check(text: str, finish_reason: str | None) -> Guard:
    """The first guard an answer fails, or "ok"."""
    if finish_reason == "length":
        return "cut_off"
    stripped = text.strip()
    if not stripped:
        return "empty"
    if len(stripped.split()) <= REFUSAL_MAX_WORDS and _REFUSAL.match(stripped):
        return "refusal"
    if repetitive(stripped):
        return "repetition"
    return "ok"


class GuardCounts:
    """Guard outcomes per role, counted as answers arrive (summary and manifest); safe across threads.

    An answer given with a `key` is counted once however often its item is replayed (the batch
    executor runs an item again from its start after each batch; cached answers come back).
    """

    def __init__(self) -> None:
        self._counts: dict[str, Counter] = {}
        self._seen: set[tuple[str, object]] = set()
        self._lock = threading.Lock()

    def add(self, role: str, answer: Answer, retried: bool = False, key: object = None) -> None:
        with self._lock:
            if key is not None:
                if (role, key) in self._seen:
                    return
                self._seen.add((role, key))
            counts = self._counts.setdefault(role, Counter())
            counts[answer.guard] += 1
            counts["answers"] += 1
            if retried:
                counts["asked_again_with_more_tokens"] += 1

    def summary(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {role: dict(sorted(c.items())) for role, c in sorted(self._counts.items())}

    def take_counts(self) -> dict[str, dict[str, int]]:
        """The counts so far, zeroed here (a Ray worker hands them to the driver's program with `add_counts`)."""
        with self._lock:
            taken, self._counts = {role: dict(c) for role, c in self._counts.items()}, {}
        return taken

    def add_counts(self, counts: dict[str, dict[str, int]]) -> None:
        """Add counts taken from another program's GuardCounts (`take_counts`)."""
        with self._lock:
            for role, c in counts.items():
                self._counts.setdefault(role, Counter()).update(c)

    def __deepcopy__(self, memo):  # shared by design, like the ledger: a copied program counts into the same place
        return self
