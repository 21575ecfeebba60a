"""EndpointLimiter without a server.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

from __future__ import annotations

import threading
import time

import pytest

from codeclm.engine.limits import EndpointLimiter, limiter_for


def run_threads(n, target):
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrency_never_exceeds_the_limit():
    limiter = EndpointLimiter(max_concurrency=3)
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def work():
        with limiter.acquire():
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            time.sleep(0.01)
            with lock:
                state["now"] -= 1

    run_threads(12, work)
    assert state["max"] == 3


def test_rpm_spaces_requests():
    limiter = EndpointLimiter(max_concurrency=8, rpm=3000)  # one per 20 ms
    stamps, lock = [], threading.Lock()

    def work():
        with limiter.acquire():
            with lock:
                stamps.append(time.monotonic())

    start = time.monotonic()
    run_threads(6, work)
    # The 6th release cannot come before 5 intervals: a lower bound the bucket guarantees.
    assert len(stamps) == 6 and max(stamps) - start >= 5 * 0.02


def test_tpm_charges_estimated_tokens():
    limiter = EndpointLimiter(max_concurrency=4, tpm=60_000)  # 1000 tokens/s, 1000-token bucket
    start = time.monotonic()
    with limiter.acquire(tokens=1000):
        pass
    with limiter.acquire(tokens=100):  # bucket is empty: waits ~0.1 s
        pass
    assert time.monotonic() - start >= 0.09


def test_registry_shares_one_limiter_per_endpoint():
    a = limiter_for("http://127.0.0.1:9/v1", 4)
    assert limiter_for("http://127.0.0.1:9/v1/", 4) is a
    assert limiter_for("http://127.0.0.1:10/v1", 4) is not a


def test_rejects_bad_limits():
    with pytest.raises(ValueError):
        EndpointLimiter(0)
    with pytest.raises(ValueError):
        EndpointLimiter(1, rpm=0)
