"""An LLM call budget shared by a baseline's steps, so datasets can be compared at equal cost."""

from __future__ import annotations

import threading


class CallBudget:
    """`take(n)` reserves n calls; False once the budget (None = unlimited) would be exceeded."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def room(self, n: int = 1) -> bool:
        with self._lock:
            return self.limit is None or self.used + n <= self.limit

    def take(self, n: int = 1) -> bool:
        with self._lock:
            if self.limit is not None and self.used + n > self.limit:
                return False
            self.used += n
            return True
