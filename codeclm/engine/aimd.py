"""Adaptive concurrency for one endpoint: additive increase, multiplicative decrease (AIMD), never above the maximum.

The limit starts at 1 and grows by one per fast, error-free reply (slow start: it doubles every round trip)
until the endpoint first says it is overloaded (HTTP 429, 503, 529, or a timeout). Then it halves, once per
overload event (replies to requests sent before the decrease do not halve it again), and remembers the level
that failed as a ceiling. Below the ceiling it grows back by one per window (a window = as many replies as
the limit), to one under the ceiling, and holds there; only after `probe_windows` windows without trouble
does it try one more. So a hidden limit costs one rejected request per probe instead of one per sawtooth,
and the endpoint runs at the level just under its limit. A reply much slower than the recent ones (per
estimated token, `slow_factor` times their median) does not count towards an increase.

Considered: Netflix's concurrency-limits (Java; gradient and Vegas limits) and Data Designer's AIMD; this is
the plain AIMD the issue asks for plus the probe delay, small enough to test deterministically.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque

OVERLOAD_STATUSES = (429, 503, 529)


def is_overload(exc: BaseException) -> bool:
    """An endpoint saying it is overloaded: 429 / 503 / 529, 'overloaded' in the message, or a timeout."""
    from codeclm.engine.retry import status_of

    if status_of(exc) in OVERLOAD_STATUSES:
        return True
    seen, err = set(), exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if "Timeout" in type(err).__name__ or "overloaded" in str(err).lower():
            return True
        err = err.__cause__ or err.__context__
    return False


class AIMD:
    """The concurrency limit of one endpoint (thread-safe); `allowed` is how many requests may be in flight."""

    def __init__(self, maximum: int, *, start: int = 1, probe_windows: int = 50, slow_factor: float = 4.0):
        if maximum < 1:
            raise ValueError(f"maximum must be >= 1, got {maximum}")
        self.maximum = maximum
        self.limit = float(max(1, min(start, maximum)))
        self.ceiling: float | None = None  # the level that last overloaded the endpoint
        self.generation = 0  # bumped at each decrease
        self.probe_windows = probe_windows
        self.slow_factor = slow_factor
        self.held = 0  # fast replies since the limit reached one under the ceiling
        self._window = 0  # fast replies towards the next additive increase
        self.overloads = 0  # decreases made
        self.peak = self.limit
        self._recent: deque[float] = deque(maxlen=64)
        self._lock = threading.Lock()

    @property
    def allowed(self) -> int:
        return max(1, min(self.maximum, int(self.limit)))

    def success(self, generation: int, seconds: float, tokens: float = 0.0) -> None:
        """A reply came back without error after `seconds` (for a request of about `tokens` tokens)."""
        with self._lock:
            pace = seconds / max(tokens, 1.0)
            slow = len(self._recent) >= 8 and pace > self.slow_factor * statistics.median(self._recent)
            self._recent.append(pace)
            if slow or generation != self.generation:
                return
            if self.ceiling is None:  # slow start: +1 per reply, up to the maximum
                self.limit = min(float(self.maximum), self.limit + 1)
            elif self.limit < self.ceiling - 1:  # additive increase: +1 per window, to one under the ceiling
                self._window += 1
                if self._window >= self.allowed:
                    self.limit = min(self.ceiling - 1, float(self.allowed + 1))
                    self._window = 0
            else:
                self.held += 1
                if self.held >= self.probe_windows * self.allowed:  # long enough without trouble: try one more
                    self.ceiling += 1
                    self.limit = min(float(self.maximum), self.limit + 1)
                    self.held = 0
            self.peak = max(self.peak, self.limit)

    def overload(self, generation: int) -> None:
        """A request sent in `generation` was refused as overload: halve, once per event."""
        with self._lock:
            if generation != self.generation:
                return  # sent before the last decrease: that event is already counted
            self.ceiling = max(1.0, float(self.allowed))
            self.limit = max(1.0, self.limit / 2)
            self.generation += 1
            self._window = 0
            self.held = 0
            self.overloads += 1

    def state(self) -> dict[str, float | int | None]:
        with self._lock:
            return {"limit": self.allowed, "maximum": self.maximum, "ceiling": self.ceiling, "overloads": self.overloads,
                    "peak": int(self.peak)}
