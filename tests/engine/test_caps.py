"""Spending caps checked before each call: reservations, settlement, failures, time.

Runs against: no model and no server (the code's own logic: Caps and SpendGuard on hand-made costs, threads).
"""

import threading

import pytest

from codeclm.engine.caps import Caps, SpendGuard
from codeclm.errors import BudgetReached


def in_thread(fn):
    """Run fn in a thread; returns (thread, results list) where results gets its value or its exception."""
    results = []

    def target():
        try:
            results.append(fn())
        except BudgetReached as exc:
            results.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, results


def test_max_calls_counts_calls_in_flight():
    guard = SpendGuard(Caps(max_calls=2))
    first, second = guard.reserve("strong", 10), guard.reserve("strong", 10)
    thread, results = in_thread(lambda: guard.reserve("strong", 10))
    thread.join(0.2)
    assert thread.is_alive()  # two in flight could both be answered: a third waits for them
    guard.release(first)  # a failed call costs nothing: the third may go
    thread.join(2)
    assert not isinstance(results[0], BudgetReached)
    guard.settle(second, 5, 5), guard.settle(results[0], 5, 5)
    assert guard.calls == 2
    with pytest.raises(BudgetReached) as stop:
        guard.reserve("strong", 1)  # nothing in flight and two made: stop
    assert stop.value.cap == "max_calls" and "max_calls 2" in str(stop.value)


def test_max_usd_reserves_the_worst_case_then_counts_the_real_cost():
    guard = SpendGuard(Caps(max_usd=0.01), prices={"strong": (1.0, 4.0), "target": (0.0, 0.0)})
    held = guard.reserve("strong", 2000)  # worst case 2000 tokens at $4/1M = $0.008
    thread, results = in_thread(lambda: guard.reserve("strong", 1000))  # + $0.004 could pass $0.01: it waits
    thread.join(0.2)
    assert thread.is_alive()
    guard.settle(held, prompt_tokens=1000, completion_tokens=200)  # really $0.001 + $0.0008: the other one fits now
    thread.join(2)
    assert guard.usd == pytest.approx(0.0018) and not isinstance(results[0], BudgetReached)
    guard.settle(results[0], 100, 100)
    with pytest.raises(BudgetReached) as stop:
        guard.reserve("strong", 2100)  # $0.0023 spent + $0.0084 worst case > $0.01, with nothing in flight
    assert stop.value.cap == "max_usd" and guard.summary()["reached"].startswith("max_usd 0.01")
    guard.reserve("target", 10**9)  # an unpriced (local) model costs 0 USD: max_usd never stops it


def test_max_tokens_and_max_seconds():
    now = [0.0]
    guard = SpendGuard(Caps(max_tokens=100, max_seconds=60), clock=lambda: now[0])
    guard.settle(guard.reserve("strong", 80), 30, 20)
    assert guard.tokens == 50
    with pytest.raises(BudgetReached):
        guard.reserve("strong", 60)
    guard.settle(guard.reserve("strong", 40), 20, 20)
    now[0] = 61
    with pytest.raises(BudgetReached) as stop:
        guard.reserve("strong", 1)
    assert stop.value.cap == "max_seconds"


def test_concurrent_reservations_never_pass_the_cap():
    guard = SpendGuard(Caps(max_calls=50))
    made = []

    def worker():
        for _ in range(40):
            try:
                held = guard.reserve("strong", 1)
            except BudgetReached:
                return
            made.append(1)
            guard.settle(held, 1, 1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(made) == guard.calls == 50
