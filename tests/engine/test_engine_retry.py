"""RetryPolicy and error classification without a server.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

from __future__ import annotations

import email.utils
import time

import pytest
from dspy.utils.exceptions import LMAuthError, LMBillingError, LMRateLimitError, LMServerError
from engine_helpers import Sleeps

from codeclm.engine.retry import RetryPolicy, is_retryable, parse_retry_after, retry_after


def test_parse_retry_after_seconds_and_dates():
    assert parse_retry_after("2") == 2.0 and parse_retry_after(0.5) == 0.5
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after(future) <= 30.01
    assert parse_retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-1") is None and parse_retry_after("nan") is None


def test_retry_after_found_in_cause_chain_headers():
    class SDKError(Exception):
        litellm_response_headers = {"Retry-After": "7"}

    try:
        try:
            raise SDKError("429")
        except SDKError as inner:
            raise LMRateLimitError("limited", status=429) from inner
    except LMRateLimitError as outer:
        assert retry_after(outer) == 7.0


def test_classification():
    assert is_retryable(LMRateLimitError("x", status=429))
    assert is_retryable(LMServerError("x", status=503))
    assert is_retryable(ConnectionResetError())
    assert not is_retryable(LMBillingError("quota", status=429))
    assert not is_retryable(LMAuthError("no", status=401))
    assert not is_retryable(ValueError("bug"))


def test_policy_full_jitter_bounded_tries_and_reraise():
    sleeps, calls = Sleeps(), []

    def always_fails():
        calls.append(1)
        raise LMServerError("boom", status=500)

    policy = RetryPolicy(max_tries=4, base_delay=0.1, max_delay=0.3, sleep=sleeps)
    with pytest.raises(LMServerError):
        policy.call(always_fails)
    assert len(calls) == 4 and len(sleeps) == 3
    assert all(0 <= s <= bound for s, bound in zip(sleeps, [0.1, 0.2, 0.3]))


def test_policy_rejects_bad_settings():
    with pytest.raises(ValueError):
        RetryPolicy(max_tries=0)


def test_first_try_runs_without_tenacity_and_retries_keep_their_numbering():
    sleeps, calls, seen = Sleeps(), [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise LMServerError("boom", status=500)
        return "ok"

    policy = RetryPolicy(max_tries=4, base_delay=0.1, max_delay=10.0, sleep=sleeps)
    assert policy.call(flaky, on_retry=lambda exc, sleep, attempt: seen.append((attempt, sleep))) == "ok"
    assert [a for a, _ in seen] == [1, 2, 3] and [s for _, s in seen] == sleeps
    assert all(0 <= s <= bound for s, bound in zip(sleeps, [0.1, 0.2, 0.4]))
    assert RetryPolicy(sleep=sleeps).call(lambda: "at once") == "at once" and len(sleeps) == 3


def test_non_retryable_first_failure_is_raised_without_waiting():
    sleeps = Sleeps()
    with pytest.raises(LMAuthError):
        RetryPolicy(max_tries=5, sleep=sleeps).call(lambda: (_ for _ in ()).throw(LMAuthError("no", status=401)))
    assert sleeps == []
