"""Batch failures by kind: every documented per-request error of OpenAI's and Anthropic's batch APIs is
temporary (sent once more), dropped (for good, with the reason) or fatal (the run stops); a batch that
failed on OpenAI's full queue waits and goes again smaller, never as the same failing batch.

Runs against: a fake batch API (tests/executors/batch_helpers.py, hand-written from the providers' API references).
"""

from __future__ import annotations

import pytest
from batch_helpers import FakeBatchAPI, make_lm, question, two_steps

from codeclm.executors.batch import BatchExecutor, BatchFatalError
from codeclm.executors.batch_anthropic import _result as anthropic_result
from codeclm.executors.batch_errors import ERRORS, classify
from codeclm.executors.batch_openai import OpenAIBatches
from codeclm.executors.batch_openai import _result as openai_result
from codeclm.executors.batch_provider import RequestResult
from codeclm.executors.batch_store import BatchStore

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")

# The documented codes (OpenAI error-codes guide and Batch API guide; Anthropic errors page and batch results).
OPENAI_DOCUMENTED = {"batch_expired", "batch_cancelled", "request_timeout", "rate_limit_exceeded", "server_error",
                     "engine_overloaded", "context_length_exceeded", "string_above_max_length", "invalid_prompt",
                     "content_policy_violation", "insufficient_quota", "billing_hard_limit_reached", "invalid_api_key",
                     "model_not_found", "invalid_request_error"}
ANTHROPIC_DOCUMENTED = {"canceled", "expired", "invalid_request_error", "authentication_error", "billing_error",
                        "permission_error", "not_found_error", "request_too_large", "rate_limit_error", "api_error",
                        "timeout_error", "overloaded_error"}


def test_every_documented_code_is_in_the_one_table():
    assert OPENAI_DOCUMENTED <= {code for provider, code in ERRORS if provider == "openai"}
    assert ANTHROPIC_DOCUMENTED <= {code for provider, code in ERRORS if provider == "anthropic"}
    assert {kind for kind, _ in ERRORS.values()} == {"temporary", "drop", "fatal", "fail"}


def _openai_error_line(code: str, message: str = "m") -> dict:
    return {"custom_id": "k", "response": None, "error": {"code": code, "message": message}}


def _openai_body_line(status: int, code: str | None, kind: str, message: str = "m") -> dict:
    return {"custom_id": "k", "response": {"status_code": status, "body": {"error": {"message": message, "type": kind,
                                                                                     "code": code}}}, "error": None}


def _anthropic_line(kind: str, message: str = "m") -> dict:
    return {"custom_id": "k", "result": {"type": "errored", "error": {"type": "error", "error": {"type": kind,
                                                                                                 "message": message}}}}


@pytest.mark.parametrize("line, expected", [
    (_openai_error_line("batch_expired"), "temporary"),
    (_openai_error_line("batch_cancelled"), "temporary"),
    (_openai_error_line("request_timeout", "The request timed out."), "temporary"),
    (_openai_body_line(429, "rate_limit_exceeded", "requests"), "temporary"),
    (_openai_body_line(500, None, "server_error"), "temporary"),
    (_openai_body_line(503, None, "engine_overloaded"), "temporary"),
    (_openai_body_line(400, "context_length_exceeded", "invalid_request_error",
                       "This model's maximum context length is 128000 tokens. However, your messages resulted in "
                       "130000 tokens."), "drop"),
    (_openai_body_line(400, "invalid_prompt", "invalid_request_error"), "drop"),
    (_openai_body_line(400, "string_above_max_length", "invalid_request_error"), "drop"),
    (_openai_body_line(429, "insufficient_quota", "insufficient_quota"), "fatal"),
    (_openai_body_line(401, "invalid_api_key", "invalid_request_error"), "fatal"),
    (_openai_body_line(404, "model_not_found", "invalid_request_error"), "fatal"),
    (_openai_body_line(400, None, "invalid_request_error", "Unrecognized request argument"), "fail"),
])
def test_openai_results_by_kind(line, expected):
    assert classify("openai", openai_result(line))[0] == expected


@pytest.mark.parametrize("line, expected", [
    ({"custom_id": "k", "result": {"type": "expired"}}, "temporary"),
    ({"custom_id": "k", "result": {"type": "canceled"}}, "temporary"),
    (_anthropic_line("rate_limit_error"), "temporary"),
    (_anthropic_line("overloaded_error", "Overloaded"), "temporary"),
    (_anthropic_line("api_error"), "temporary"),
    (_anthropic_line("timeout_error"), "temporary"),
    (_anthropic_line("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), "drop"),
    (_anthropic_line("request_too_large"), "drop"),
    (_anthropic_line("authentication_error"), "fatal"),
    (_anthropic_line("permission_error"), "fatal"),
    (_anthropic_line("billing_error", "Your credit balance is too low"), "fatal"),
    (_anthropic_line("not_found_error", "model: claude-x"), "fatal"),
    (_anthropic_line("invalid_request_error", "max_tokens: must be greater than 0"), "fail"),
])
def test_anthropic_results_by_kind(line, expected):
    assert classify("anthropic", anthropic_result(line))[0] == expected


def test_unknown_codes_fall_back_on_the_status():
    assert classify("openai", RequestResult("k", "errored", error="x", code="new_code", status=502))[0] == "temporary"
    assert classify("openai", RequestResult("k", "errored", error="x", code="new_code", status=403))[0] == "fatal"
    assert classify("openai", RequestResult("k", "errored", error="x", code="new_code", status=400))[0] == "fail"


def executor(api, store, sleeps=None, **options) -> BatchExecutor:
    return BatchExecutor({"strong": api}, store, poll_seconds=0, sleep=(sleeps.append if sleeps is not None else lambda s: None),
                         queue_wait=300, **options)


class Named(FakeBatchAPI):
    name = "anthropic"  # classified by Anthropic's rows of the table


def test_a_fatal_result_stops_the_run_and_keeps_the_finished_answers(cache, store):
    api = Named(result=lambda line: RequestResult("k", "errored", error="billing_error: Your credit balance is too low",
                                                  code="billing_error") if question(line) == "q2" else None)
    with pytest.raises(BatchFatalError, match="credit balance is too low: the account's credit is used up: add credit"):
        executor(api, store).map("filter", two_steps(make_lm(cache)), ["q1", "q2", "q3"])
    assert store.answer(next(line["custom_id"] for line in api.submitted[0] if question(line) == "q1")) is not None


def test_a_dropped_result_drops_its_item_for_good(cache, store):
    api = Named(result=lambda line: RequestResult("k", "errored", error="request_too_large: too big",
                                                  code="request_too_large") if question(line) == "q1" else None)
    outcomes = executor(api, store).map("filter", two_steps(make_lm(cache)), ["q1", "q2"])
    assert not outcomes[0].ok and outcomes[0].permanent and not outcomes[0].endpoint_failure
    assert outcomes[0].stage == "answer" and "larger than Anthropic accepts; this item is dropped" in outcomes[0].error
    assert outcomes[1].ok


def test_a_request_timeout_is_sent_once_more(cache, store):
    class OpenAINamed(FakeBatchAPI):
        name = "openai"

    api = OpenAINamed(result=lambda line: RequestResult("k", "errored", error="The request timed out.",
                                                        code="request_timeout")
                      if question(line) == "q1" and api.seen[line["custom_id"]] == 1 else None)
    outcomes = executor(api, store).map("filter", two_steps(make_lm(cache)), ["q1", "q2"])
    assert all(o.ok for o in outcomes) and sorted(question(line) for line in api.submitted[1]) == ["again: A:q2", "q1"]


def test_a_full_queue_waits_and_resubmits_smaller_never_the_same_batch(cache, store):
    api, sleeps = FakeBatchAPI(queue_limit=2), []
    questions = ["q1", "q2", "q3", "q4", "q5"]
    outcomes = executor(api, store, sleeps).map("filter", two_steps(make_lm(cache)), questions)
    assert all(o.ok for o in outcomes)
    sizes = [len(lines) for lines in api.submitted]
    assert sizes == [5, 2, 2, 1, 2, 2, 1]  # 5 fails on the queue, then at most half of it, follow-up calls too
    assert sleeps.count(300) == 1
    first = [line["custom_id"] for line in api.submitted[0]]
    assert all([line["custom_id"] for line in lines] != first for lines in api.submitted[1:])


def test_a_rerun_starts_from_half_the_size_that_failed(cache, tmp_path):
    questions = ["q1", "q2", "q3", "q4"]
    store = BatchStore(cache.path)
    try:
        with pytest.raises(_Stopped):  # the first run stops before its resubmission (e.g. Ctrl-C while waiting)
            executor(FakeBatchAPI(queue_limit=1), store, sleeps=_Stop()).map("filter", two_steps(make_lm(cache)), questions)
    finally:
        store.close()
    store, api = BatchStore(cache.path), FakeBatchAPI()
    api.prefix = "rerun_"
    try:
        outcomes = executor(api, store).map("filter", two_steps(make_lm(cache)), questions)
    finally:
        store.close()
    assert all(o.ok for o in outcomes) and [len(lines) for lines in api.submitted][:2] == [2, 2]


class _Stopped(Exception):
    pass


class _Stop(list):
    def append(self, seconds):
        if seconds == 300:  # the queue wait, not a poll's
            raise _Stopped("stopped while waiting for the queue")


def test_a_lone_request_that_never_fits_fails_its_item_with_the_reason(cache, store):
    """Each item fails with the reason, and a stage failing whole stops the run, as for any endpoint failure."""
    from codeclm.errors import EndpointError

    api = FakeBatchAPI(queue_limit=0)
    with pytest.raises(EndpointError, match="even a batch of one request does not fit the organisation's enqueued-token"):
        executor(api, store).map("filter", two_steps(make_lm(cache)), ["q1", "q2"])
    assert [len(lines) for lines in api.submitted] == [2, 1, 1]


def test_openai_reads_token_limit_exceeded_as_a_full_queue():
    batches = OpenAIBatches("sk-test")
    state = batches._state({"id": "batch_1", "status": "failed", "errors": {"data": [
        {"code": "token_limit_exceeded", "message": "Enqueued token limit reached for gpt-4o in organization org-x."}]}})
    other = batches._state({"id": "batch_2", "status": "failed", "errors": {"data": [{"code": "invalid_json_line"}]}})
    batches.close()
    assert state.queue_full and state.detail == {"queue_full": True} and "token_limit_exceeded" in state.error
    assert not other.queue_full
