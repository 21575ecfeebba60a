"""The thread executor: one item's failure is recorded and the run goes on; a dead endpoint stops it, promptly.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import pytest

from codeclm.errors import EndpointError, StepError
from codeclm.executors import ThreadExecutor as Runner


def fail_odd(item):
    if item % 2:
        raise StepError("decode", f"item {item} does not parse")
    return item * 10


def test_failures_are_outcomes_and_order_is_kept():
    outcomes = Runner(concurrency=3).map("decode", fail_odd, range(6))
    assert [o.value for o in outcomes] == [0, None, 20, None, 40, None]
    assert [o.stage for o in outcomes if not o.ok] == ["decode"] * 3
    assert "item 1 does not parse" in outcomes[1].error


def test_endpoint_failures_in_a_row_stop_the_run():
    def down(item):
        raise StepError("respond", "connection refused", endpoint_failure=True)

    with pytest.raises(EndpointError, match="8 items in a row failed on their endpoint.*rerun the same command"):
        Runner(concurrency=1, abort_after=8).map("filter", down, range(20))
    with pytest.raises(EndpointError, match="2 items in a row"):  # a short stage that fails whole
        Runner(concurrency=1).map("encode", down, range(2))


def test_sporadic_endpoint_failures_do_not_stop_the_run():
    def flaky(item):
        if item % 3 == 0:
            raise StepError("respond", "HTTP 500", endpoint_failure=True)
        return item

    outcomes = Runner(concurrency=1, abort_after=2).map("filter", flaky, range(9))
    assert sum(o.ok for o in outcomes) == 6


def test_a_dead_endpoint_stops_a_concurrent_stage_without_running_the_queue():
    """concurrency > 1: items not started when the endpoint is found down are never started."""
    import threading
    import time

    started = []
    lock = threading.Lock()

    def down(item):
        with lock:
            started.append(item)
        time.sleep(0.01)
        raise StepError("respond", "connection refused", endpoint_failure=True)

    with pytest.raises(EndpointError):
        Runner(concurrency=4, abort_after=8).map("filter", down, range(200))
    assert len(started) < 20


def test_each_outcome_is_reported_as_it_finishes():
    seen = []
    Runner(concurrency=2).map("decode", fail_odd, range(4), on_outcome=lambda o: seen.append((o.item, o.ok)))
    assert sorted(seen) == [(0, True), (1, False), (2, True), (3, False)]
