"""BatchExecutor on an in-memory provider: rounds, failures, expiry, resume, ledger (the HTTP is in test_batch_cassettes).

Runs against: an in-memory fake provider batch API (batch_helpers.FakeBatchAPI) and fake LMs; no HTTP.
"""

from __future__ import annotations

import pytest
from batch_helpers import QA, FakeBatchAPI, answer_field, make_lm, nonempty, question, two_steps
from fakes import field_value
from stub_server import StubServer

from codeclm.engine import CallCache, UsageLedger
from codeclm.errors import EndpointError
from codeclm.executors import ThreadExecutor
from codeclm.executors.batch import BatchExecutor
from codeclm.executors.batch_store import BatchStore

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")

QUESTIONS = ["q1", "q2", "q3"]


def executor(api, store, ledger=None, **options) -> BatchExecutor:
    return BatchExecutor({"strong": api}, store, ledger=ledger, poll_seconds=0, sleep=lambda s: None, **options)


def test_multi_call_items_finish_in_rounds_with_one_batch_per_round(cache, store):
    api, ledger, seen = FakeBatchAPI(), UsageLedger({"strong": (1.0, 2.0)}), []
    outcomes = executor(api, store, ledger, concurrency=2).map("filter", two_steps(make_lm(cache, ledger)), QUESTIONS,
                                                               on_outcome=seen.append)
    assert [o.value for o in outcomes] == [f"A:again: A:{q}" for q in QUESTIONS]
    assert sorted(o.item for o in seen) == QUESTIONS  # each item reported once, as it finished
    assert [len(lines) for lines in api.submitted] == [3, 3]  # round 1: first calls; round 2: follow-ups
    row = ledger.summary()["roles"]["strong"]
    assert (row["calls"], row["batch_calls"], row["batch_prompt_tokens"]) == (6, 6, 120)
    assert row["cost"] == pytest.approx(0.5 * (120 * 1.0 + 30 * 2.0) / 1e6)  # batch price: half the standard one


def test_a_finished_stage_is_answered_from_the_cache_next_time(cache, store):
    executor(FakeBatchAPI(), store).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    again = FakeBatchAPI()
    outcomes = executor(again, store).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    assert all(o.ok for o in outcomes) and again.submitted == []


def test_a_request_that_failed_in_its_batch_fails_only_its_item(cache, store):
    api = FakeBatchAPI(fate=lambda line, n: "errored" if "q2" in str(line["body"]) else None)
    outcomes = executor(api, store).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    assert [o.ok for o in outcomes] == [True, False, True]
    failed = outcomes[1]
    assert failed.stage == "answer" and failed.endpoint_failure and not failed.permanent
    assert "fake batch batch_1: the request failed: HTTP 400: invalid_request_error: bad request" in failed.error
    assert api.seen.most_common(1)[0][1] == 1  # a 400 is not sent again


def test_a_prompt_too_long_for_the_context_drops_its_item_for_good(cache, store):
    api = FakeBatchAPI(fate=lambda line, n: "context" if "q1" in str(line["body"]) else None)
    outcomes = executor(api, store).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    assert not outcomes[0].ok and outcomes[0].permanent and "too long for the model's context" in outcomes[0].error


@pytest.mark.parametrize("fate", ["expired", "canceled", "transient"])
def test_requests_that_did_not_run_are_submitted_once_more(cache, store, fate, caplog):
    api = FakeBatchAPI(fate=lambda line, n: fate if question(line) == "q3" and n == 1 else None)
    outcomes = executor(api, store).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    assert all(o.ok for o in outcomes)
    # round 2 sends q3's first call again beside the others' follow-ups; round 3: q3's follow-up
    assert [sorted(question(line) for line in lines) for lines in api.submitted] == [
        ["q1", "q2", "q3"], ["again: A:q1", "again: A:q2", "q3"], ["again: A:q3"]]
    assert "submitting them once more in a new batch" in caplog.text


def test_a_request_that_expires_twice_fails_its_item_with_the_reason(cache, store):
    api = FakeBatchAPI(fate=lambda line, n: "expired" if question(line) == "q3" else None)
    outcomes = executor(api, store).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    assert [o.ok for o in outcomes] == [True, True, False]
    assert "the request expired (also in a second batch) before it ran; rerun to try again" in outcomes[2].error


def test_a_failed_batch_fails_its_requests_and_a_stage_failing_whole_stops_the_run(cache, store):
    api = FakeBatchAPI(failed_batch="the batch failed: invalid_request: model not found")
    with pytest.raises(EndpointError, match="3 items in a row failed on their endpoint.*model not found"):
        executor(api, store).map("filter", two_steps(make_lm(cache)), QUESTIONS)


def test_an_unbatchable_request_fails_its_item_with_the_reason(cache, store):
    api = FakeBatchAPI(unbatchable=lambda request: "parameter logprobs has no Anthropic Messages equivalent"
                       if "q1" in str(request.body) else None)
    outcomes = executor(api, store).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    assert [o.ok for o in outcomes] == [False, True, True]
    assert "strong model openai/stub-model: parameter logprobs has no Anthropic" in outcomes[0].error


def test_a_reply_the_step_rejects_is_never_cached_nor_served_to_a_later_run(cache, store):
    """The thread path never caches a reply that fails validation; answers from a batch must not either."""
    replies = {"first": answer_field("")}  # the first reply is an empty answer, which the step rejects

    def responder(question):
        return replies.pop("first", None) or answer_field(f"A:{question}")

    api = FakeBatchAPI(responder=responder)
    one = executor(api, store).map("filter", two_steps(make_lm(cache)), ["q1"])
    assert one[0].ok and [len(lines) for lines in api.submitted] == [1, 1, 1]  # empty -> asked again -> follow-up
    rejected = api.submitted[0][0]["custom_id"]
    assert cache.get(rejected) is None  # the rejected reply stayed out of the cache ...
    later = FakeBatchAPI()
    assert executor(later, store).map("filter", two_steps(make_lm(cache)), ["q1"])[0].ok
    assert [[line["custom_id"] for line in lines] for lines in later.submitted] == [[rejected]]  # ... and is asked anew


def test_a_restarted_run_polls_the_batch_it_had_submitted_instead_of_submitting_again(cache, store):
    api = FakeBatchAPI(polls=3)

    def interrupt(seconds):
        raise KeyboardInterrupt

    first = BatchExecutor({"strong": api}, store, poll_seconds=60, sleep=interrupt)
    with pytest.raises(KeyboardInterrupt):
        first.map("filter", two_steps(make_lm(cache)), QUESTIONS)
    assert len(api.submitted) == 1 and api.polled == ["batch_1"]

    restarted = BatchStore(cache.path)  # a new process: only the sqlite file is shared
    outcomes = executor(api, restarted).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    restarted.close()
    assert all(o.ok for o in outcomes)
    assert [b for b in api.batches] == ["batch_1", "batch_2"]  # batch_2: the follow-ups, never the first calls again
    assert api.polled[:4] == ["batch_1"] * 4


def test_roles_without_a_batch_api_call_their_endpoint_directly(cache, store):
    """A local target has no batch API: its calls go out in the round, the strong model's wait for the batch."""
    with StubServer(responder=lambda body: answer_field("T")) as target_server:
        strong, target = make_lm(cache), make_lm(cache, role="target", api_base=target_server.url,
                                                 model="openai/stub-target")
        ask_strong, ask_target = QA(strong), QA(target, "target")

        def fn(question):
            return ask_strong.ask(question, nonempty, question=question) + "|" + ask_target.ask(question, nonempty, question=question)

        api = FakeBatchAPI()
        outcomes = executor(api, store).map("filter", fn, QUESTIONS)
        assert [o.value for o in outcomes] == [f"A:{q}|T" for q in QUESTIONS]
        assert target_server.stats()["requests"] == 3 and [len(lines) for lines in api.submitted] == [3]
        assert all(line["body"]["model"] == "stub-model" for line in api.submitted[0])


def test_outcomes_match_the_thread_executor_on_the_same_answers(cache, store, tmp_path):
    with StubServer(responder=lambda body: answer_field("A:" + field_value(body["messages"], "question"))) as server:
        threads_cache = CallCache(tmp_path / "threads.sqlite")
        direct = ThreadExecutor(2).map("filter", two_steps(make_lm(threads_cache, api_base=server.url)), QUESTIONS)
        threads_cache.close()
    batched = executor(FakeBatchAPI(), store).map("filter", two_steps(make_lm(cache)), QUESTIONS)
    assert [o.value for o in batched] == [o.value for o in direct] and all(o.ok for o in direct)
