"""Retry policy for endpoint calls: exponential backoff, full jitter, the server's wait hints.

Built on tenacity (already a DSPy dependency): its ``wait_random_exponential`` is
exactly "full jitter" (uniform in [0, min(max, base * 2**n)]). The server's hint, as
openai-python reads it: ``retry-after-ms`` (OpenAI, milliseconds) first, then
``Retry-After`` (seconds or an HTTP date; Anthropic, vLLM, proxies). A hint of 0 (or
a date in the past) is no advice: the jittered backoff applies, never an instant
retry. A hint longer than ``max_delay`` is not cut short (the server would refuse
again) nor slept through: the call stops at once with RetryAfterTooLongError naming
the wait. A 429 whose code says the quota or credit is used up (OpenAI
``insufficient_quota``) is not a rate limit: QuotaExhaustedError, never retried.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Any, Callable, TypeVar

import tenacity

from codeclm.engine.failures import chain

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


def parse_retry_after(value: Any) -> float | None:
    """Seconds from a Retry-After value (delta-seconds or an HTTP date); None if unusable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        if not isinstance(value, str):
            return None
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _header(headers: Any, name: str) -> Any:
    if not headers:
        return None
    items = headers.items() if hasattr(headers, "items") else headers
    return next((v for k, v in items if str(k).lower() == name), None)


def _parse_retry_after_ms(value: Any) -> float | None:
    seconds = parse_retry_after(value)
    return None if seconds is None else seconds / 1000


def retry_after(exc: BaseException) -> float | None:
    """The server's wait hint anywhere in the exception chain, in seconds (``retry-after-ms``
    before ``Retry-After``, as openai-python reads them)."""
    for err in chain(exc):
        hint = parse_retry_after(getattr(err, "retry_after", None))
        if hint is not None:
            return hint
        for headers in (getattr(err, "litellm_response_headers", None),
                        getattr(getattr(err, "response", None), "headers", None),
                        getattr(err, "headers", None)):
            hint = _parse_retry_after_ms(_header(headers, "retry-after-ms"))
            if hint is None:
                hint = parse_retry_after(_header(headers, "retry-after"))
            if hint is not None:
                return hint
    return None


QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})


def quota_exhausted(exc: BaseException) -> bool:
    """The chain says the account's quota or credit is used up (not a rate limit: waiting does not help)."""
    from dspy.utils.exceptions import LMBillingError

    for err in chain(exc):
        if isinstance(err, LMBillingError):
            return True
        for value in (getattr(err, "code", None), getattr(err, "error_type", None), getattr(err, "type", None)):
            if isinstance(value, str) and value in QUOTA_CODES:
                return True
        body = getattr(err, "body", None)  # openai-python's APIStatusError keeps the error object here
        if isinstance(body, dict) and (body.get("code") in QUOTA_CODES or body.get("type") in QUOTA_CODES):
            return True
    return False


def status_of(exc: BaseException) -> int | None:
    """The HTTP status carried by the exception or its causes, if any."""
    for err in chain(exc):
        status = getattr(err, "status", None) or getattr(err, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            return status
    return None


def is_retryable(exc: BaseException) -> bool:
    """Transient failures: 429, 5xx, timeouts, dropped connections, unparseable (malformed) replies.

    DSPy 3.4.1 projects litellm errors onto ``dspy.utils.exceptions`` types
    (LMRateLimitError, LMServerError, LMTimeoutError, LMTransportError); those decide
    first. Billing (429 insufficient_quota), auth, 400 and 404 are never retried.
    """
    from dspy.utils.exceptions import LMBillingError, LMError, is_retryable_lm_error

    from codeclm.errors import CodecLMError, MalformedReplyError

    if isinstance(exc, CodecLMError):  # ours: malformed replies are transient, the others are final
        return isinstance(exc, MalformedReplyError)
    if isinstance(exc, LMBillingError) or quota_exhausted(exc):
        return False
    if isinstance(exc, LMError):
        return is_retryable_lm_error(exc)
    for err in chain(exc):
        if isinstance(err, (TimeoutError, ConnectionError, MalformedReplyError)):
            return True
        if type(err).__name__ in {"ConnectError", "ReadTimeout", "ConnectTimeout", "RemoteProtocolError",
                                  "APIConnectionError", "APITimeoutError", "Timeout", "ReadError", "WriteError",
                                  "WriteTimeout", "PoolTimeout"}:
            return True
    status = status_of(exc)
    return status in RETRYABLE_STATUS


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: ``max_tries`` attempts in all, each with ``timeout`` seconds.

    Waits are full-jitter exponential (``base_delay * 2**n`` capped at
    ``max_delay``); a Retry-After hint replaces the jittered wait, also capped.
    ``sleep`` is injectable so tests can record waits instead of sleeping.
    """

    max_tries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self):
        if self.max_tries < 1:
            raise ValueError(f"RetryPolicy.max_tries must be >= 1, got {self.max_tries}")
        if self.base_delay < 0 or self.max_delay < 0 or self.timeout <= 0:
            raise ValueError("RetryPolicy delays must be >= 0 and timeout > 0")

    def delay(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt``: the server's hint (above 0), else full jitter."""
        hint = retry_after(exc) if exc is not None else None
        if hint is not None and hint > 0:
            return min(hint, self.max_delay)  # a longer hint stopped the call in ``_checked`` already
        jitter = tenacity.wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)
        return jitter(SimpleNamespace(attempt_number=attempt))  # it reads only the attempt number

    def call(self, fn: Callable[[], T], *, on_retry: Callable[[BaseException, float, int], None] | None = None) -> T:
        """Run ``fn`` until it succeeds, fails for good, or tries run out (last error re-raised).

        The first try runs outside tenacity: nearly every call succeeds at once, and building
        tenacity's state per call costs CPU (docs/speed.md). After a retryable failure, tenacity
        runs the remaining tries, numbered from 2 in waits and in ``on_retry``.
        """

        def attempt() -> T:
            try:
                return fn()
            except Exception as exc:
                raise self._checked(exc)  # noqa: B904 - exc itself, or an error whose __cause__ it already is

        try:
            return attempt()
        except BaseException as exc:
            if self.max_tries == 1 or not is_retryable(exc):
                raise
            self._pause(exc, 1, on_retry)
        return self._retrying(on_retry)(attempt)

    def _checked(self, exc: Exception) -> Exception:
        """``exc``, or the error that stops retrying it: a quota used up, or a wait hint past ``max_delay``."""
        from codeclm.errors import QuotaExhaustedError, RetryAfterTooLongError

        if not isinstance(exc, QuotaExhaustedError) and quota_exhausted(exc):
            error: Exception = QuotaExhaustedError(
                f"{_first_line(exc)}; the account's quota or credit is used up (insufficient_quota, not a rate limit): "
                "not retried; add credit or raise the limit, then rerun (finished work is kept)")
        elif is_retryable(exc) and (retry_after(exc) or 0) > self.max_delay:
            error = RetryAfterTooLongError(
                f"{_first_line(exc)}; the server asks to wait {retry_after(exc):g} s before a retry, longer than the "
                f"retry policy's {self.max_delay:g} s: not retried; rerun after that wait (finished work is kept)")
        else:
            return exc
        error.__cause__ = exc
        return error

    def _pause(self, exc: BaseException, attempt: int, on_retry) -> None:
        sleep = self.delay(exc, attempt)
        if on_retry is not None:
            on_retry(exc, sleep, attempt)
        self.sleep(sleep)

    def _retrying(self, on_retry) -> tenacity.Retrying:
        """tenacity for tries 2..max_tries (its attempt 1 is our try 2)."""

        def wait(state: tenacity.RetryCallState) -> float:
            return self.delay(state.outcome.exception() if state.outcome else None, state.attempt_number + 1)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is not None:
                on_retry(state.outcome.exception(), state.next_action.sleep, state.attempt_number + 1)

        return tenacity.Retrying(stop=tenacity.stop_after_attempt(self.max_tries - 1), wait=wait,
                                 retry=tenacity.retry_if_exception(is_retryable), before_sleep=before_sleep,
                                 sleep=self.sleep, reraise=True)


def _first_line(exc: BaseException) -> str:
    line = next((line.strip() for line in str(exc).splitlines() if line.strip()), "") or type(exc).__name__
    return line[:300]
