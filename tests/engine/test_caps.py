"""Spending caps checked before each call: reservations, settlement, failures, time."""

import threading

import pytest

from codeclm.engine.caps import Caps, SpendGuard
from codeclm.errors import BudgetReached


def test_max_calls_counts_calls_in_flight():
    guard = SpendGuard(Caps(max_calls=2))
    first, second = guard.reserve("strong", 10), guard.reserve("strong", 10)
    with pytest.raises(BudgetReached) as stop:
        guard.reserve("strong", 10)  # two in flight could both be answered: a third would pass the cap
    assert stop.value.cap == "max_calls" and "max_calls 2" in str(stop.value)
    guard.release(first)  # a failed call costs nothing
    third = guard.reserve("target", 10)
    guard.settle(second, 5, 5), guard.settle(third, 5, 5)
    assert guard.calls == 2
    with pytest.raises(BudgetReached):
        guard.reserve("strong", 1)


def test_max_usd_reserves_the_worst_case_then_counts_the_real_cost():
    guard = SpendGuard(Caps(max_usd=0.01), prices={"strong": (1.0, 4.0), "target": (0.0, 0.0)})
    held = guard.reserve("strong", 2000)  # worst case 2000 tokens at $4/1M = $0.008
    with pytest.raises(BudgetReached) as stop:
        guard.reserve("strong", 1000)  # + $0.004 could pass $0.01
    assert stop.value.cap == "max_usd"
    guard.settle(held, prompt_tokens=1000, completion_tokens=200)  # $0.001 + $0.0008
    assert guard.usd == pytest.approx(0.0018)
    guard.settle(guard.reserve("strong", 1000), 100, 100)
    guard.reserve("target", 10**9)  # an unpriced (local) model costs 0 USD: max_usd never stops it
    assert guard.summary()["reached"].startswith("max_usd 0.01")


def test_max_tokens_and_max_seconds():
    now = [0.0]
    guard = SpendGuard(Caps(max_tokens=100, max_seconds=60), clock=lambda: now[0])
    guard.settle(guard.reserve("strong", 80), 30, 20)
    assert guard.tokens == 50
    with pytest.raises(BudgetReached):
        guard.reserve("strong", 60)
    guard.reserve("strong", 40)
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
