"""Collecting requests instead of sending them, for batch executors (OpenAI/Anthropic batch APIs).

Under ``with collect_requests() as collector:`` an EngineLM call that misses the cache
does not go to the network: it registers a ``DeferredRequest`` (cache key, endpoint,
model, path, JSON body, role) and raises ``DeferredCall``. The executor submits the
collected bodies as a batch, writes each result with ``EngineLM.store(key, response)``,
and runs the program again: every call is now a cache hit. Calls that cannot be cached
(no cache, or ``cache=False``) are not deferred: they could never be replayed.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator

_active: ContextVar["RequestCollector | None"] = ContextVar("codeclm_request_collector", default=None)


@dataclass(frozen=True)
class DeferredRequest:
    """One call a batch should make. ``body`` is the OpenAI-format JSON body (no credentials)
    POSTed to ``endpoint + path``; ``model`` is the model id as configured (provider prefix kept)."""

    key: str
    endpoint: str
    model: str
    path: str
    body: dict[str, Any]
    role: str


class DeferredCall(BaseException):
    """Raised by EngineLM under ``collect_requests()`` instead of making a network call.

    It derives from BaseException, not Exception, on purpose: step code's generic
    ``except Exception`` blocks (re-asks, fallbacks, per-item failure capture) must never
    swallow it; only the executor that opened ``collect_requests()`` should catch it.
    """

    def __init__(self, request: DeferredRequest):
        super().__init__(f"{request.role} call {request.key[:12]}… deferred to a batch")
        self.request = request


class RequestCollector:
    """The deferred requests of one ``collect_requests()`` block, one per cache key; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, DeferredRequest] = {}

    def add(self, request: DeferredRequest) -> None:
        with self._lock:
            self._requests.setdefault(request.key, request)

    @property
    def requests(self) -> list[DeferredRequest]:
        """The collected requests in the order they were first made."""
        with self._lock:
            return list(self._requests.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._requests)

    def __iter__(self) -> Iterator[DeferredRequest]:
        return iter(self.requests)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._requests


@contextmanager
def collect_requests() -> Iterator[RequestCollector]:
    """Defer every cacheable cache-missing EngineLM call in this context (and its copies) to the collector."""
    collector = RequestCollector()
    token = _active.set(collector)
    try:
        yield collector
    finally:
        _active.reset(token)


def defer_if_collecting(make_request: Callable[[], DeferredRequest]) -> None:
    """Register the request and raise DeferredCall when a collector is active; else nothing."""
    collector = _active.get()
    if collector is None:
        return
    request = make_request()
    collector.add(request)
    raise DeferredCall(request)
