"""CallCache: round trips, concurrent writers, and kill -9 in the middle of writing.

Runs against: no model: SQLite files, threads and killed subprocesses.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from codeclm.engine import CallCache

ROOT = Path(__file__).resolve().parents[2]


def test_round_trip_and_stats(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    assert cache.get("k") is None
    cache.put("k", {"choices": [{"message": {"content": "hé"}}]}, {"role": "strong"})
    assert cache.get("k") == {"choices": [{"message": {"content": "hé"}}]}
    assert cache.stats() | {"path": None} == {"path": None, "entries": 1, "hits": 1, "misses": 1, "puts": 1}
    cache.close()
    reopened = CallCache(tmp_path / "c.sqlite")  # persisted: the same reply, not merely some reply
    assert reopened.get("k") == {"choices": [{"message": {"content": "hé"}}]} and reopened.get("other") is None


def test_eight_threads_writing_at_once(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    errors = []

    def writer(t):
        try:
            for i in range(50):
                cache.put(f"{t}-{i}", {"t": t, "i": i, "pad": "x" * 500})
                assert cache.get(f"{t}-{i}")["i"] == i
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 400
    conn = sqlite3.connect(cache.path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


WRITER = """
import sys
sys.path.insert(0, {root!r})
from codeclm.engine.cache import CallCache
cache = CallCache({path!r})
i = 0
while True:
    cache.put(f"k{{i}}", {{"i": i, "pad": "y" * 2000}})
    i += 1
    if i == 20:
        print("ready", flush=True)
"""


def test_sigkill_while_writing_leaves_a_readable_cache(tmp_path):
    path = tmp_path / "c.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), path=str(path))],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)  # let it write mid-stream
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    cache = CallCache(path)
    count = len(cache)
    assert count >= 20
    for i in range(count):  # writes are sequential, so every committed key is readable
        assert cache.get(f"k{i}") == {"i": i, "pad": "y" * 2000}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cache.put("after", {"ok": True})  # and still writable
    assert cache.get("after") == {"ok": True}
