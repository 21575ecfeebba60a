"""An LLM call budget shared by a baseline's steps, so datasets can be compared at equal cost."""

from __future__ import annotations

import threading


class CallBudget:
    """`take(n)` reserves n calls; False once the budget (None = unlimited) would be exceeded.

    `take(n, key=...)` reserves once per key: an item replayed by the batch executor (which runs
    it again from its start after each batch) does not pay twice.
    """

    def __init__(self, limit: int | None):
        self.limit = limit
        self.used = 0
        self._taken: set[object] = set()
        self._lock = threading.Lock()

    def room(self, n: int = 1) -> bool:
        with self._lock:
            return self.limit is None or self.used + n <= self.limit

    def take(self, n: int = 1, key: object = None) -> bool:
        with self._lock:
            if key is not None and key in self._taken:
                return True
            if self.limit is not None and self.used + n > self.limit:
                return False
            self.used += n
            if key is not None:
                self._taken.add(key)
            return True

    def snapshot(self) -> tuple[int, frozenset[object]]:
        """Calls used and keys taken (a Ray executor shares the budget between workers with these)."""
        with self._lock:
            return self.used, frozenset(self._taken)

    def restore(self, used: int, taken: frozenset[object]) -> None:
        with self._lock:
            self.used, self._taken = used, set(taken)
