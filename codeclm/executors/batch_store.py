"""Submitted provider batches, kept in the call-cache file so that a restarted run resumes them.

Two tables beside the cache's ``responses``: ``batches`` (which provider and endpoint, its batch
id, the stage, last status, what reading results needs) and ``batch_requests`` (each
request's cache key, which is also its ``custom_id``, its role and model, then its result).

A batch's life: submitted (rows written the moment the provider returns its id) -> polled ->
read (every request's result written in one transaction, with ``read = 1``) -> consumed (the
stage that waited for it finished). Until a batch is read, a run that needs any of its requests
polls it instead of submitting them again; until it is consumed, its successful replies answer
those requests. After that, a reply the step accepted lives in the call cache, and one it
rejected (did not parse) is not served again: a later run asks anew, as with direct calls.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from codeclm.engine.collect import DeferredRequest
from codeclm.engine.sqlite_pool import ThreadConnections
from codeclm.executors.batch_provider import BatchState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    provider TEXT NOT NULL,
    id TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    read INTEGER NOT NULL DEFAULT 0,
    consumed INTEGER NOT NULL DEFAULT 0,
    submitted REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (provider, id)
);
CREATE TABLE IF NOT EXISTS batch_requests (
    provider TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    key TEXT NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    path TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'submitted',
    reply TEXT,
    error TEXT,
    PRIMARY KEY (provider, batch_id, key)
);
CREATE INDEX IF NOT EXISTS batch_requests_by_key ON batch_requests(key);
"""
_CHUNK = 500  # keys per IN (...) query


@dataclass(frozen=True)
class StoredRequest:
    key: str
    role: str
    model: str
    path: str


@dataclass(frozen=True)
class StoredBatch:
    provider: str
    id: str
    stage: str
    status: str
    detail: dict[str, Any]


class BatchStore:
    """The batch tables of one sqlite file (the call cache's); safe for many threads."""

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 30.0):
        self.path = Path(path)
        self._connections = ThreadConnections(self.path, busy_timeout=busy_timeout)
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def add(self, state: BatchState, provider: str, stage: str, requests: Sequence[DeferredRequest]) -> None:
        """A batch the provider just created, with its requests (replacing any older record under the same
        id: a server that reuses ids, such as a restarted local one)."""
        now = time.time()
        conn = self._conn()
        with _transaction(conn):
            conn.execute("DELETE FROM batch_requests WHERE provider = ? AND batch_id = ?", (provider, state.id))
            conn.execute("DELETE FROM batches WHERE provider = ? AND id = ?", (provider, state.id))
            conn.execute("INSERT INTO batches (provider, id, stage, status, detail, submitted, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (provider, state.id, stage, state.status, json.dumps(state.detail), now, now))
            conn.executemany("INSERT INTO batch_requests (provider, batch_id, key, role, model, path) VALUES (?, ?, ?, ?, ?, ?)",
                             [(provider, state.id, r.key, r.role, r.model, r.path) for r in requests])

    def update(self, provider: str, state: BatchState) -> None:
        """The batch's latest status (and what reading its results needs)."""
        self._conn().execute("UPDATE batches SET status = ?, detail = ?, updated = ? WHERE provider = ? AND id = ?",
                             (state.status, json.dumps(state.detail), time.time(), provider, state.id))

    def unread(self, keys: Iterable[str]) -> list[StoredBatch]:
        """Batches not read yet that hold any of `keys` (submitted by this run or by one that stopped)."""
        found: dict[tuple[str, str], StoredBatch] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            rows = self._conn().execute(
                f"SELECT DISTINCT b.provider, b.id, b.stage, b.status, b.detail FROM batches b "
                f"JOIN batch_requests r ON r.provider = b.provider AND r.batch_id = b.id "
                f"WHERE b.read = 0 AND r.key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
            for row in rows:
                found[(row[0], row[1])] = StoredBatch(row[0], row[1], row[2], row[3], json.loads(row[4] or "{}"))
        return list(found.values())

    def queue_full_cap(self, provider: str, keys: Iterable[str]) -> int | None:
        """Half the size of the smallest batch holding any of `keys` that failed on a full queue (at least 1),
        so that no run submits the same failing batch again; None if there was none."""
        sizes: list[int] = []
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            rows = self._conn().execute(
                f"SELECT DISTINCT b.id FROM batches b JOIN batch_requests r ON r.provider = b.provider AND r.batch_id = b.id "
                f"WHERE b.provider = ? AND b.detail LIKE '%\"queue_full\": true%' AND r.key IN ({','.join('?' * len(chunk))})",
                [provider, *chunk]).fetchall()
            for (batch_id,) in rows:
                sizes.append(self._conn().execute("SELECT count(*) FROM batch_requests WHERE provider = ? AND batch_id = ?",
                                                  (provider, batch_id)).fetchone()[0])
        return max(1, min(sizes) // 2) if sizes else None

    def requests(self, provider: str, batch_id: str) -> dict[str, StoredRequest]:
        rows = self._conn().execute("SELECT key, role, model, path FROM batch_requests WHERE provider = ? AND batch_id = ?",
                                    (provider, batch_id))
        return {row[0]: StoredRequest(*row) for row in rows}

    def read(self, provider: str, batch_id: str, results: Iterable[tuple[str, str, dict[str, Any] | None, str | None]]) -> None:
        """Every request's result `(key, state, reply, error)`, and the batch marked read, in one transaction."""
        conn = self._conn()
        with _transaction(conn):
            conn.executemany(
                "UPDATE batch_requests SET state = ?, reply = ?, error = ? WHERE provider = ? AND batch_id = ? AND key = ?",
                [(state, json.dumps(reply, ensure_ascii=False) if reply is not None else None, error, provider, batch_id, key)
                 for key, state, reply, error in results])
            conn.execute("UPDATE batches SET read = 1, updated = ? WHERE provider = ? AND id = ?",
                         (time.time(), provider, batch_id))

    def answer(self, key: str) -> dict[str, Any] | None:
        """A successful reply for `key` from a read batch whose stage has not finished yet."""
        row = self._conn().execute(
            "SELECT r.reply FROM batch_requests r JOIN batches b ON r.provider = b.provider AND r.batch_id = b.id "
            "WHERE r.key = ? AND r.state = 'succeeded' AND b.read = 1 AND b.consumed = 0 LIMIT 1", (key,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def consume(self, batches: Iterable[tuple[str, str]]) -> None:
        """The stage that waited for these `(provider, batch id)`s finished: their replies answer no more calls."""
        rows = [(time.time(), provider, batch_id) for provider, batch_id in batches]
        if rows:
            conn = self._conn()
            with _transaction(conn):
                conn.executemany("UPDATE batches SET consumed = 1, updated = ? WHERE provider = ? AND id = ?", rows)

    def close(self) -> None:
        self._connections.close()


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
