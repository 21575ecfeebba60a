"""A persistent response cache in one sqlite file (stdlib sqlite3, WAL mode).

Every ``put`` is its own committed transaction, so a process killed at any moment
leaves a readable file holding every completed put. One connection per thread
(engine/sqlite_pool.py: WAL, ``busy_timeout``), so many threads and processes
can read and write at once.

diskcache (a DSPy dependency) was considered: it is sqlite underneath too, but it
pickles values (a shared cache file would then execute code on load), evicts by
size by default (silently discarding paid-for responses a resumed run needs) and
stores opaque blobs. Here rows are plain JSON a person can inspect with ``sqlite3``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from codeclm.engine.sqlite_pool import ThreadConnections

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    meta TEXT NOT NULL,
    created REAL NOT NULL
)
"""


class CallCache:
    """Key -> response dict store, safe for many threads and processes at once."""

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = ThreadConnections(self.path, busy_timeout=busy_timeout)
        self._lock = threading.Lock()
        self._hits = self._misses = self._puts = 0
        conn = self._conn()
        conn.execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response for ``key``, or None."""
        row = self._conn().execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        with self._lock:
            if row is None:
                self._misses += 1
            else:
                self._hits += 1
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            logger.warning("cache %s: unreadable entry %s… ignored", self.path, key[:12])
            return None

    def put(self, key: str, response: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
        """Store (or replace) ``response`` under ``key``; committed before returning."""
        self._conn().execute(
            "INSERT OR REPLACE INTO responses (key, response, meta, created) VALUES (?, ?, ?, ?)",
            (key, json.dumps(response, ensure_ascii=False, default=str),
             json.dumps(meta or {}, ensure_ascii=False, default=str), time.time()))
        with self._lock:
            self._puts += 1

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def stats(self) -> dict[str, Any]:
        """Entries on disk and this instance's hits, misses and puts."""
        with self._lock:
            counters = {"hits": self._hits, "misses": self._misses, "puts": self._puts}
        return {"path": str(self.path), "entries": len(self), **counters}

    def close(self) -> None:
        """Close every connection this instance opened."""
        self._connections.close()

    def __deepcopy__(self, memo):  # shared by design; never duplicated with an LM copy
        return self
