"""What becomes of a request that errored in a provider batch: one table for every documented per-request
error of OpenAI's Batch API and Anthropic's Message Batches.

Kinds: ``temporary`` (it may pass: submitted once more in a new batch), ``drop`` (the same request fails
again: its item is dropped for good, with the reason), ``fatal`` (every request would fail: the run stops
with the fix, finished work kept), ``fail`` (its item fails this run and a rerun tries it again: a request
the provider refused that a config change may fix). A code not in the table is read from its HTTP status.

Sources: OpenAI's error codes (platform.openai.com/docs/guides/error-codes) and Batch API guide (result and
error files; ``batch_expired`` / ``batch_cancelled`` for requests a batch ended before running); Anthropic's
errors page (docs.anthropic.com/en/api/errors: the ``error.type`` values) and Message Batches results
(``succeeded`` / ``errored`` / ``canceled`` / ``expired``). Whole-batch failures (OpenAI ``failed``: the
file did not validate, or ``token_limit_exceeded``, the organisation's queue is full) are the executor's
concern: see ``batch.py``.
"""

from __future__ import annotations

from typing import Literal

from codeclm.engine.failures import HTTPStatusFailure, context_overflow
from codeclm.engine.retry import RETRYABLE_STATUS
from codeclm.executors.batch_provider import RequestResult

Kind = Literal["temporary", "drop", "fatal", "fail"]

_RATE = "a rate limit or a busy provider; it may pass"
ERRORS: dict[tuple[str, str], tuple[Kind, str]] = {
    # OpenAI: `error.code` of an error-file line, else the reply body's error code or type
    ("openai", "batch_expired"): ("temporary", "the batch ended (24 h window) before this request ran"),
    ("openai", "batch_cancelled"): ("temporary", "the batch was cancelled before this request ran"),
    ("openai", "request_timeout"): ("temporary", "the request timed out inside the batch; it may pass"),
    ("openai", "rate_limit_exceeded"): ("temporary", _RATE),
    ("openai", "server_error"): ("temporary", "a server error at OpenAI; it may pass"),
    ("openai", "engine_overloaded"): ("temporary", _RATE),
    ("openai", "context_length_exceeded"): ("drop", "the prompt does not fit the model's context window"),
    ("openai", "string_above_max_length"): ("drop", "a message is longer than OpenAI accepts"),
    ("openai", "invalid_prompt"): ("drop", "OpenAI refused the prompt (usage policy)"),
    ("openai", "content_policy_violation"): ("drop", "OpenAI refused the prompt (usage policy)"),
    ("openai", "content_filter"): ("drop", "OpenAI's content filter refused the prompt"),
    ("openai", "insufficient_quota"): ("fatal", "the organisation's quota or credit is used up: add credit or raise "
                                                "the limit, then rerun"),
    ("openai", "billing_hard_limit_reached"): ("fatal", "the organisation's billing limit is reached: raise it, then rerun"),
    ("openai", "invalid_api_key"): ("fatal", "the API key is not valid: set the right key, then rerun"),
    ("openai", "model_not_found"): ("fatal", "the model does not exist or this key cannot use it: fix models.<role>.model"),
    ("openai", "invalid_request_error"): ("fail", "OpenAI refused the request as sent"),
    # Anthropic: `result.error.error.type` of an errored result; `canceled` / `expired` are result types
    ("anthropic", "canceled"): ("temporary", "the batch was cancelled before this request ran"),
    ("anthropic", "expired"): ("temporary", "the batch ended (24 h) before this request ran"),
    ("anthropic", "rate_limit_error"): ("temporary", _RATE),
    ("anthropic", "overloaded_error"): ("temporary", _RATE),
    ("anthropic", "api_error"): ("temporary", "a server error at Anthropic; it may pass"),
    ("anthropic", "timeout_error"): ("temporary", "the request timed out at Anthropic; it may pass"),
    ("anthropic", "request_too_large"): ("drop", "the request is larger than Anthropic accepts"),
    ("anthropic", "authentication_error"): ("fatal", "the API key is not valid: set the right key, then rerun"),
    ("anthropic", "permission_error"): ("fatal", "this key may not use the model or the batch API: fix the key or the model"),
    ("anthropic", "billing_error"): ("fatal", "the account's credit is used up: add credit, then rerun"),
    ("anthropic", "not_found_error"): ("fatal", "the model does not exist: fix models.<role>.model"),
    ("anthropic", "invalid_request_error"): ("fail", "Anthropic refused the request as sent"),
}
_BY_STATUS: dict[int, tuple[Kind, str]] = {401: ("fatal", "the API key is not valid: set the right key, then rerun"),
                                           403: ("fatal", "this key may not use the model or the batch API"),
                                           413: ("drop", "the request is larger than the provider accepts")}


def classify(provider: str, result: RequestResult) -> tuple[Kind, str]:
    """``(kind, reason)`` for a result that did not succeed."""
    code = result.kind if result.kind in ("expired", "canceled") else result.code
    if result.kind in ("expired", "canceled"):
        code = {"openai": {"expired": "batch_expired", "canceled": "batch_cancelled"}}.get(provider, {}).get(code, code)
    if context_overflow(HTTPStatusFailure(result.status or 400, result.error or "", code=result.code)) is not None:
        return "drop", "the prompt does not fit the model's context window"
    found = ERRORS.get((provider, str(code)))
    if found is not None:
        return found
    if result.kind in ("expired", "canceled"):
        return "temporary", f"the request was {result.kind} before it ran"
    if result.status in RETRYABLE_STATUS:
        return "temporary", f"HTTP {result.status}; it may pass"
    return _BY_STATUS.get(result.status or 0, ("fail", "the provider refused the request"))
