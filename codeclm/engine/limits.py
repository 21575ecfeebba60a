"""Per-endpoint client-side limits: concurrent requests, requests/minute, tokens/minute.

DSPy is synchronous and runs calls in threads, so this is a small thread-safe
semaphore plus token buckets on one condition variable. aiolimiter is asyncio-only;
pyrate-limiter and limits add storage backends and fixed/sliding windows we don't
need and don't do blocking weighted acquisition with debt, which a tokens/minute
estimate wants.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from codeclm.engine.aimd import AIMD, is_overload

logger = logging.getLogger(__name__)


class _Bucket:
    """A token bucket refilled at ``rate`` per second up to ``capacity``; may go into debt."""

    def __init__(self, per_minute: float, capacity: float):
        self.rate = per_minute / 60.0
        self.capacity = capacity
        self.level = capacity
        self.stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until ``min(cost, capacity)`` tokens are available (0 if now)."""
        self._refill(now)
        need = min(cost, self.capacity) - self.level
        return 0.0 if need <= 1e-9 else need / self.rate

    def take(self, cost: float) -> None:
        self.level -= cost


class EndpointLimiter:
    """Thread-safe limits shared by every role that calls one endpoint.

    ``rpm`` spaces requests evenly (burst of ``burst`` requests, default 1) and
    ``tpm`` charges each request's estimated tokens against a one-second bucket
    that may go into debt, so large requests slow later ones instead of starving.
    ``adaptive``: the requests in flight follow an AIMD limit (codeclm.engine.aimd) that backs off when the
    endpoint answers 429 / overloaded, never above ``max_concurrency``; otherwise ``max_concurrency`` is fixed.
    """

    def __init__(self, max_concurrency: int, rpm: float | None = None, tpm: float | None = None,
                 *, burst: int = 1, adaptive: bool = False):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if (rpm is not None and rpm <= 0) or (tpm is not None and tpm <= 0):
            raise ValueError("rpm and tpm must be positive when set")
        self.max_concurrency = max_concurrency
        self.rpm, self.tpm = rpm, tpm
        self.aimd = AIMD(max_concurrency) if adaptive else None
        self._in_flight = 0
        self._slots = threading.Condition()
        self._cond = threading.Condition()
        self._requests = _Bucket(rpm, max(1, burst)) if rpm else None
        self._tokens = _Bucket(tpm, max(1.0, tpm / 60.0)) if tpm else None

    def _wait_rate(self, tokens: float) -> None:
        if self._requests is None and self._tokens is None:
            return
        with self._cond:
            while True:
                now = time.monotonic()
                delay = max(self._requests.wait_for(1, now) if self._requests else 0.0,
                            self._tokens.wait_for(tokens, now) if self._tokens else 0.0)
                if delay <= 0:
                    break
                self._cond.wait(delay)
            if self._requests:
                self._requests.take(1)
            if self._tokens:
                self._tokens.take(tokens)

    @property
    def concurrency(self) -> int:
        """Requests allowed in flight now."""
        return self.aimd.allowed if self.aimd is not None else self.max_concurrency

    @contextmanager
    def acquire(self, tokens: float = 0.0) -> Iterator[None]:
        """Hold one concurrency slot for the block, after waiting for rate budget. With ``adaptive``, how the block
        ends (a reply, or an overload error raised through it) moves the limit."""
        with self._slots:
            while self._in_flight >= self.concurrency:
                self._slots.wait()
            self._in_flight += 1
            generation = self.aimd.generation if self.aimd is not None else 0
        answered = False
        try:
            self._wait_rate(tokens)
            start = time.monotonic()
            yield
            answered = True
        except BaseException as exc:
            if self.aimd is not None and is_overload(exc):
                self.aimd.overload(generation)
            raise
        finally:
            if answered and self.aimd is not None:
                self.aimd.success(generation, time.monotonic() - start, tokens)
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

    def settle(self, estimated: float, actual: float) -> None:
        """Correct the token bucket once a reply reports the real token count."""
        if self._tokens is not None and actual >= 0:
            with self._cond:
                self._tokens.take(actual - estimated)
                self._cond.notify_all()

    def __deepcopy__(self, memo):  # shared by design; never duplicated with an LM copy
        return self


_registry: dict[str, EndpointLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(api_base: str | None, max_concurrency: int, rpm: float | None = None,
                tpm: float | None = None, adaptive: bool = False) -> EndpointLimiter:
    """The one shared limiter for ``api_base`` (created with these limits on first use)."""
    from codeclm.engine.keys import normalize_api_base, redact_url

    key = normalize_api_base(api_base)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = EndpointLimiter(max_concurrency, rpm, tpm, adaptive=adaptive)
        elif (limiter.max_concurrency, limiter.rpm, limiter.tpm) != (max_concurrency, rpm, tpm):
            logger.warning("endpoint %s already has limits (concurrency=%s rpm=%s tpm=%s); keeping them",
                           redact_url(api_base), limiter.max_concurrency, limiter.rpm, limiter.tpm)
        return limiter
