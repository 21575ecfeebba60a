"""A run's spending caps (max_usd, max_calls, max_tokens, max_seconds), checked before every paid call.

Each call reserves its worst case before it goes out: one call, its token estimate (prompt characters / 4
plus the answer cap), and that many tokens priced at the role's higher price. When the reply arrives the
reservation is replaced by what the reply really cost (its usage at the ledger's prices); a call that failed
costs nothing and frees its reservation. A call that would pass a cap even with nothing in flight is not
made: BudgetReached stops the run. A call that fits only once the calls in flight have settled waits for
them. So calls in flight together can never pass a cap, and a run stops within one call of it. Cache hits
are free and never checked. Models without prices (the embedded local
ones) cost 0 USD: cap them by calls, tokens or seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from codeclm.errors import BudgetReached

CAP_NAMES = ("max_usd", "max_calls", "max_tokens", "max_seconds")


@dataclass(frozen=True)
class Caps:
    """None = no cap."""

    max_usd: float | None = None
    max_calls: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None

    @property
    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in CAP_NAMES)

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in CAP_NAMES if getattr(self, name) is not None}


@dataclass
class Reservation:
    role: str
    tokens: float
    usd: float


class SpendGuard:
    """Thread-safe spending against `caps`; `prices`: role -> (USD per 1M input tokens, per 1M output tokens)."""

    def __init__(self, caps: Caps, prices: Mapping[str, tuple[float, float]] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.caps = caps
        self.prices = {role: (float(p[0]), float(p[1])) for role, p in (prices or {}).items()}
        self.clock = clock
        self.started = clock()
        self.calls = 0
        self.tokens = 0
        self.usd = 0.0
        self._held_calls = 0
        self._held_tokens = 0.0
        self._held_usd = 0.0
        self.reached: str | None = None  # the first cap that stopped a call, as a sentence
        self._cond = threading.Condition()

    def reserve(self, role: str, estimated_tokens: float) -> Reservation:
        """Hold one call's worst case; BudgetReached (and nothing held) when it would pass a cap. A call that fits
        only once calls in flight have settled (their real cost is usually far below their worst case) waits
        for them."""
        price = max(self.prices.get(role, (0.0, 0.0)))
        usd = estimated_tokens * price / 1e6
        with self._cond:
            while True:
                problem = self._problem(estimated_tokens, usd, held=False)
                if problem is None and self._problem(estimated_tokens, usd, held=True) is None:
                    break
                if problem is not None or self._held_calls == 0:
                    problem = problem or self._problem(estimated_tokens, usd, held=True)
                    self.reached = self.reached or problem[1]
                    raise BudgetReached(f"stopped before the next call: {problem[1]}; finished records are kept, rerun "
                                        f"with a higher {problem[0]} to continue", cap=problem[0])
                self._cond.wait()  # fits once the calls in flight have settled: wait for them
            self._held_calls += 1
            self._held_tokens += estimated_tokens
            self._held_usd += usd
        return Reservation(role, estimated_tokens, usd)

    def _problem(self, tokens: float, usd: float, held: bool) -> tuple[str, str] | None:
        """The cap this call would pass (counting calls in flight at their worst case when `held`), or None."""
        caps = self.caps
        calls, spent_tokens, spent_usd = self.calls, self.tokens, self.usd
        if held:
            calls, spent_tokens, spent_usd = calls + self._held_calls, spent_tokens + self._held_tokens, spent_usd + self._held_usd
        elapsed = self.clock() - self.started
        if caps.max_seconds is not None and elapsed >= caps.max_seconds:
            return "max_seconds", f"max_seconds {caps.max_seconds:g} reached ({elapsed:.0f} s)"
        if caps.max_calls is not None and calls + 1 > caps.max_calls:
            return "max_calls", f"max_calls {caps.max_calls} reached ({self.calls} calls made)"
        if caps.max_tokens is not None and spent_tokens + tokens > caps.max_tokens:
            return "max_tokens", f"max_tokens {caps.max_tokens} reached ({self.tokens} tokens used; the next call may need {tokens:.0f})"
        if caps.max_usd is not None and usd > 0 and spent_usd + usd > caps.max_usd:
            return "max_usd", (f"max_usd {caps.max_usd:g} reached (${self.usd:.4f} spent; the next call may cost up to "
                               f"${usd:.4f})")
        return None

    def settle(self, held: Reservation, prompt_tokens: int, completion_tokens: int) -> None:
        """The call was answered: count what it really cost instead of its reservation."""
        price_in, price_out = self.prices.get(held.role, (0.0, 0.0))
        with self._cond:
            self._release(held)
            self.calls += 1
            self.tokens += int(prompt_tokens) + int(completion_tokens)
            self.usd += (prompt_tokens * price_in + completion_tokens * price_out) / 1e6

    def release(self, held: Reservation) -> None:
        """The call failed: it costs nothing."""
        with self._cond:
            self._release(held)

    def _release(self, held: Reservation) -> None:
        self._held_calls -= 1
        self._held_tokens -= held.tokens
        self._held_usd -= held.usd
        self._cond.notify_all()

    def summary(self) -> dict[str, object]:
        with self._cond:
            return {"caps": self.caps.as_dict(), "calls": self.calls, "tokens": self.tokens, "usd": round(self.usd, 6),
                    "seconds": round(self.clock() - self.started, 2), "reached": self.reached}

    def __deepcopy__(self, memo):  # shared by design; never duplicated with an LM copy
        return self
