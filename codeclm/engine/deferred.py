"""Deferred cache commit: keep a call's reply out of the cache until the caller accepts it.

A step asks, parses and validates; a reply it rejects must not stay cached, or every
rerun would replay the same bad answer. Under ``with deferred_cache() as pending:``
EngineLM keeps its would-be cache puts in ``pending`` (repeated calls inside the block
still hit them); ``pending.commit()`` writes them, and leaving the block discards what
was not committed. Outside any block EngineLM writes at once, as before.

The block is held in a ContextVar: nested calls in one thread see it, and worker threads
started with ``contextvars.copy_context()`` share the same (thread-safe) ``PendingPuts``.
Blocks nest like transactions: an inner ``commit()`` hands its puts to the enclosing
block, which decides in turn; only the outermost commit writes to disk.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

from codeclm.engine.cache import CallCache

_active: ContextVar["PendingPuts | None"] = ContextVar("codeclm_deferred_cache", default=None)


class PendingPuts:
    """Cache puts held back until ``commit()``; thread-safe."""

    def __init__(self, parent: "PendingPuts | None" = None):
        self.parent = parent
        self._lock = threading.Lock()
        self._puts: dict[tuple[int, str], tuple[CallCache, dict[str, Any], dict[str, Any] | None]] = {}

    def put(self, cache: CallCache, key: str, response: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._puts[(id(cache), key)] = (cache, response, meta)

    def get(self, cache: CallCache, key: str) -> dict[str, Any] | None:
        """A held put for ``key`` here or in an enclosing block."""
        with self._lock:
            held = self._puts.get((id(cache), key))
        if held is not None:
            return held[1]
        return self.parent.get(cache, key) if self.parent is not None else None

    def commit(self) -> int:
        """Write the held puts (to the enclosing block when nested); the number written."""
        with self._lock:
            puts, self._puts = self._puts, {}
        for (_, key), (cache, response, meta) in puts.items():
            if self.parent is not None:
                self.parent.put(cache, key, response, meta)
            else:
                cache.put(key, response, meta)
        return len(puts)

    def discard(self) -> int:
        """Drop the held puts; the number dropped."""
        with self._lock:
            count, self._puts = len(self._puts), {}
        return count

    def __len__(self) -> int:
        with self._lock:
            return len(self._puts)


@contextmanager
def deferred_cache() -> Iterator[PendingPuts]:
    """Hold EngineLM's cache puts for the block; ``commit()`` keeps them, leaving discards the rest."""
    pending = PendingPuts(_active.get())
    token = _active.set(pending)
    try:
        yield pending
    finally:
        _active.reset(token)
        pending.discard()


def lookup(cache: CallCache, key: str) -> dict[str, Any] | None:
    """A reply held by an active block, else the one on disk, else None."""
    pending = _active.get()
    held = pending.get(cache, key) if pending is not None else None
    return held if held is not None else cache.get(key)


def save(cache: CallCache, key: str, response: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    """Put now, or hold the put when a ``deferred_cache()`` block is active."""
    pending = _active.get()
    if pending is None:
        cache.put(key, response, meta)
    else:
        pending.put(cache, key, response, meta)
