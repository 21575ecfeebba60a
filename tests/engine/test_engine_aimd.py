"""The AIMD concurrency controller, step by step (no clock, no server): its limits are asserted, not timed.

Runs against: no model and no server (the code's own logic on hand-made events and HTTP failures).
"""

import threading

import pytest

from codeclm.engine.aimd import AIMD, is_overload
from codeclm.engine.failures import HTTPStatusFailure
from codeclm.engine.limits import EndpointLimiter


def replies(aimd, n, seconds=1.0):
    for _ in range(n):
        aimd.success(aimd.generation, seconds, 100)


def test_slow_start_grows_while_replies_are_fast_and_never_passes_the_maximum():
    aimd = AIMD(8)
    assert aimd.allowed == 1
    replies(aimd, 3)
    assert aimd.allowed == 4
    replies(aimd, 50)
    assert aimd.allowed == 8  # never above max_concurrency


def test_an_overload_halves_once_per_event():
    aimd = AIMD(32)
    replies(aimd, 15)
    assert aimd.allowed == 16
    sent_in = aimd.generation
    for _ in range(8):  # eight requests of the same burst come back 429
        aimd.overload(sent_in)
    assert aimd.allowed == 8 and aimd.overloads == 1 and aimd.ceiling == 16
    aimd.overload(aimd.generation)  # a request sent after the decrease: a new event
    assert aimd.allowed == 4


def test_after_an_overload_it_grows_back_by_one_per_window_and_holds_under_the_ceiling():
    aimd = AIMD(32, probe_windows=10)
    replies(aimd, 9)  # 10 in flight allowed
    aimd.overload(aimd.generation)  # the endpoint's limit is under 10: halve to 5
    assert aimd.allowed == 5
    replies(aimd, 5)
    assert aimd.allowed == 6  # +1 per window of 5 replies, not +1 per reply
    replies(aimd, 6 + 7 + 8)
    assert aimd.allowed == 9  # one under the level that failed, and it holds there
    replies(aimd, 10 * 9 - 1)
    assert aimd.allowed == 9
    replies(aimd, 1)
    assert aimd.allowed == 10  # after probe_windows quiet windows it tries one more


def test_slow_replies_do_not_raise_the_limit():
    aimd = AIMD(8)
    replies(aimd, 7, seconds=1.0)
    assert aimd.allowed == 8
    aimd = AIMD(16)
    replies(aimd, 8, seconds=1.0)
    before = aimd.allowed
    replies(aimd, 5, seconds=10.0)  # ten times slower per token than the recent median: queueing
    assert aimd.allowed == before


def test_overload_errors_are_recognised():
    assert is_overload(HTTPStatusFailure(429, "rate limited"))
    assert is_overload(HTTPStatusFailure(529, "overloaded_error"))
    assert not is_overload(HTTPStatusFailure(400, "bad request"))
    assert not is_overload(ValueError("no"))


def test_the_limiter_holds_requests_to_the_adaptive_limit_and_halves_on_429():
    limiter = EndpointLimiter(8, adaptive=True)
    assert limiter.concurrency == 1
    entered, release = threading.Event(), threading.Event()

    def hold():
        with limiter.acquire():
            entered.set()
            release.wait(5)

    first = threading.Thread(target=hold)
    first.start()
    assert entered.wait(5)
    second_in = threading.Event()
    second = threading.Thread(target=lambda: limiter.acquire().__enter__() and None or second_in.set())
    second.start()
    assert not second_in.wait(0.2)  # one allowed: the second waits
    release.set()
    first.join(5)
    assert second_in.wait(5)  # the first reply came back fast: two allowed now, the second went in
    with pytest.raises(HTTPStatusFailure):
        with limiter.acquire():
            raise HTTPStatusFailure(429, "slow down")
    assert limiter.aimd.overloads == 1
    fixed = EndpointLimiter(8)
    assert fixed.concurrency == 8 and fixed.aimd is None
