"""One sqlite connection per thread to one file, shared by the call cache and the batch store.

Autocommit (each statement is its own transaction; callers open ``BEGIN IMMEDIATE`` where they
need several), WAL so that readers run while a writer commits, ``busy_timeout`` so that
concurrent writers (threads or processes) wait instead of failing, and ``synchronous=NORMAL``:
in WAL mode it survives process crashes (kill -9); only an OS crash or power loss can drop the
last commits.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

logger = logging.getLogger(__name__)


class ThreadConnections:
    """The calling thread's connection to ``path`` (opened on first use); ``close`` closes them all."""

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 30.0):
        self.path = Path(path)
        self._busy_ms = int(busy_timeout * 1000)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._busy_ms / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                logger.warning("sqlite %s: WAL mode unavailable; concurrent readers will block", self.path)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection opened so far; a later ``get`` opens a new one."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()
