"""Collecting requests instead of sending them, for batch executors (OpenAI/Anthropic batch APIs).

Under ``with collect_requests() as collector:`` an EngineLM call that misses the cache
does not go to the network: it registers a ``DeferredRequest`` (cache key, endpoint,
model, path, JSON body, role) and raises ``DeferredCall``. The executor submits the
collected bodies as a batch, writes each result with ``EngineLM.store(key, response)``,
and runs the program again: every call is now a cache hit. Calls that cannot be cached
(no cache, or ``cache=False``) are not deferred: they could never be replayed.

Two optional hooks let a batch executor hand results back without writing them to the
cache first (``codeclm.executors.batch``): ``defer(request)`` says which requests wait for
a batch (others, e.g. a local model without a batch API, go to the network as usual), and
``answer(request)`` returns the reply a finished batch gave for it, or raises that
request's failure. An answered call completes like a fresh network reply: inside a step's
``deferred_cache()`` block, so a reply that fails validation is never cached. ``seen`` (a set
shared by one stage's rounds) keeps the ledger from counting a replayed call as a cache hit
again: the executor runs each pending item from its start after every batch.
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


Answer = Callable[[DeferredRequest], "dict[str, Any] | None"]


class RequestCollector:
    """The deferred requests of one ``collect_requests()`` block, one per cache key; thread-safe."""

    def __init__(self, defer: Callable[[DeferredRequest], bool] | None = None, answer: Answer | None = None,
                 seen: set[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, DeferredRequest] = {}
        self.defer = defer
        self.answer = answer
        self.seen = seen

    def first_sight(self, key: str) -> bool:
        """Whether no earlier round (sharing ``seen``) answered or replayed this call; notes it."""
        if self.seen is None:
            return True
        with self._lock:
            if key in self.seen:
                return False
            self.seen.add(key)
            return True

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
def collect_requests(*, defer: Callable[[DeferredRequest], bool] | None = None, answer: Answer | None = None,
                     seen: set[str] | None = None) -> Iterator[RequestCollector]:
    """Defer every cacheable cache-missing EngineLM call in this context (and its copies) to the collector.

    ``defer``: which requests to defer (default: all); ``answer``: a batch's reply for a request, or None;
    ``seen``: calls earlier rounds answered or replayed (their cache hits are not counted again).
    """
    collector = RequestCollector(defer, answer, seen)
    token = _active.set(collector)
    try:
        yield collector
    finally:
        _active.reset(token)


def defer_if_collecting(make_request: Callable[[], DeferredRequest]) -> dict[str, Any] | None:
    """Under a collector: the batch's reply for this request if it has one (or its failure, raised),
    else register the request and raise DeferredCall. None when the call should go to the network
    (no collector, or one that does not defer this request)."""
    collector = _active.get()
    if collector is None:
        return None
    request = make_request()
    if collector.defer is not None and not collector.defer(request):
        collector.first_sight(request.key)  # made now, directly: its replays are not hits
        return None
    reply = collector.answer(request) if collector.answer is not None else None
    if reply is not None:
        collector.first_sight(request.key)  # counted when its batch was read; its replays are not hits
        return reply
    collector.add(request)
    raise DeferredCall(request)


def first_sight(key: str) -> bool:
    """False for a call an earlier round of this stage already answered or replayed (not a new cache hit)."""
    collector = _active.get()
    return collector is None or collector.first_sight(key)
