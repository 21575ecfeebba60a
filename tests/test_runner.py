"""The runner: one item's failure is recorded and the run goes on; a dead endpoint stops it."""

import pytest

from codeclm.errors import EndpointError, StepError
from codeclm.runner import Runner


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
