"""Retries follow the providers' documented hints: ``retry-after-ms`` (OpenAI) before ``Retry-After``
(seconds or a date; Anthropic, vLLM, proxies); 0 is no advice; a wait past max_delay stops the call with
the wait named; a used-up quota (429 ``insufficient_quota``) is not a rate limit and is never retried.

Runs against: a stub server on 127.0.0.1 (replies hand-written from the providers' API references).
"""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
from engine_helpers import chat

from codeclm.engine.failures import HTTPStatusFailure, status_failure
from codeclm.engine.retry import RetryPolicy, is_retryable, quota_exhausted, retry_after
from codeclm.errors import QuotaExhaustedError, RetryAfterTooLongError

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")


def _failure(status: int, headers: dict[str, str], code: str | None = None, kind: str = "rate_limit_error"):
    body = {"error": {"message": "limited", "type": kind, "code": code}}
    import json

    return status_failure(status, json.dumps(body).encode(), httpx.Headers(headers))


@pytest.mark.parametrize("headers, seconds", [
    ({"retry-after-ms": "250"}, 0.25),                                # OpenAI: milliseconds
    ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),            # ms first, as openai-python reads them
    ({"Retry-After": "7"}, 7.0),                                      # seconds (Anthropic, vLLM)
    ({"retry-after": "1.5"}, 1.5),
    ({"Retry-After": "0"}, 0.0),
    ({"retry-after-ms": "nonsense", "Retry-After": "3"}, 3.0),        # an unusable ms value falls back
])
def test_hint_headers(headers, seconds):
    assert retry_after(_failure(429, headers)) == pytest.approx(seconds)


def test_hint_as_an_http_date():
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 18 <= retry_after(_failure(429, {"Retry-After": when})) <= 20.01


def _waits(failure: Exception, max_delay: float = 60.0) -> tuple[list[float], list[int]]:
    sleeps, calls = [], []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise failure
        return "ok"

    assert RetryPolicy(max_tries=3, base_delay=0.5, max_delay=max_delay, sleep=sleeps.append).call(flaky) == "ok"
    return sleeps, calls


def test_retry_after_ms_is_waited():
    assert _waits(_failure(429, {"retry-after-ms": "1200"}))[0] == [pytest.approx(1.2)]


def test_retry_after_zero_backs_off_with_jitter_not_at_once(monkeypatch):
    import random

    monkeypatch.setattr(random, "uniform", lambda a, b: b)  # tenacity's jitter at its bound: 0.5 s on try 1
    assert _waits(_failure(429, {"Retry-After": "0"}))[0] == [pytest.approx(0.5)]


def test_retry_after_past_max_delay_stops_at_once_with_the_wait_named():
    sleeps, calls = [], []

    def limited():
        calls.append(1)
        raise _failure(429, {"Retry-After": "3600"})

    with pytest.raises(RetryAfterTooLongError) as err:
        RetryPolicy(max_tries=5, max_delay=60, sleep=sleeps.append).call(limited)
    assert calls == [1] and sleeps == []
    assert "asks to wait 3600 s before a retry, longer than the retry policy's 60 s: not retried" in str(err.value)
    assert isinstance(err.value.__cause__, HTTPStatusFailure)


def test_a_hint_within_max_delay_is_kept_whole():
    assert _waits(_failure(503, {"Retry-After": "45"}))[0] == [45.0]


@pytest.mark.parametrize("code, kind", [("insufficient_quota", "insufficient_quota"),
                                        (None, "insufficient_quota"),
                                        ("billing_hard_limit_reached", "invalid_request_error")])
def test_quota_is_not_a_rate_limit(code, kind):
    failure = _failure(429, {"Retry-After": "1"}, code=code, kind=kind)
    assert quota_exhausted(failure) and not is_retryable(failure)
    calls = []

    def spent():
        calls.append(1)
        raise failure

    with pytest.raises(QuotaExhaustedError, match="quota or credit is used up .* not retried; add credit"):
        RetryPolicy(max_tries=5, sleep=lambda s: None).call(spent)
    assert calls == [1]


@pytest.mark.parametrize("status, code, kind", [(429, "rate_limit_exceeded", "requests"),       # OpenAI rate limit
                                                (429, None, "rate_limit_error"),                 # Anthropic
                                                (529, None, "overloaded_error"),                 # Anthropic overloaded
                                                (503, None, "server_error")])
def test_rate_limits_and_overload_are_retried(status, code, kind):
    failure = _failure(status, {}, code=code, kind=kind)
    assert is_retryable(failure) and not quota_exhausted(failure)


def test_direct_path_does_not_retry_a_used_up_quota(make_lm, stub, sleeps, ledger):
    stub.script.append("429-quota")
    with pytest.raises(QuotaExhaustedError) as err:
        chat(make_lm())
    message = str(err.value)
    assert "\n" not in message and "You exceeded your current quota" in message and "add credit" in message
    assert stub.stats()["requests"] == 1 and sleeps == []


def test_direct_path_waits_retry_after_ms(make_lm, stub, sleeps):
    stub.retry_after, stub.retry_after_ms = 9, 300
    stub.script.append("429")
    assert chat(make_lm()).choices[0].message.content
    assert sleeps == [pytest.approx(0.3)] and stub.stats()["requests"] == 2
