"""collect_requests(): cache misses become DeferredRequests for a batch; store() makes them cache hits.

Runs against: the stub OpenAI-compatible server tests/engine/fake_openai.py on 127.0.0.1 (a test fake, not a model).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

import dspy
import pytest
from engine_helpers import ANSWER, SECRET, chat

from codeclm.engine import DeferredCall, collect_requests
from codeclm.errors import MalformedReplyError

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")


def batch_result(content: str = ANSWER) -> dict:
    return {"id": "batch-1", "object": "chat.completion", "model": "stub-model",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}


def test_a_miss_registers_the_request_and_raises_deferred_call(make_lm, stub):
    lm = make_lm(role="judge")
    with collect_requests() as collector:
        with pytest.raises(DeferredCall) as deferred:
            chat(lm, "batch me", seed=3, rollout_id=5, temperature=0.7)
    (request,) = collector.requests
    assert deferred.value.request is request
    assert (request.endpoint, request.model, request.path, request.role) == (stub.url, "openai/stub-model",
                                                                             "/chat/completions", "judge")
    assert request.body == {"model": "stub-model", "messages": [{"role": "user", "content": "batch me"}],
                            "seed": 3, "temperature": 0.7}
    assert SECRET not in repr(request) and stub.stats()["requests"] == 0


def test_deferred_call_is_not_an_exception(make_lm):
    assert not issubclass(DeferredCall, Exception) and issubclass(DeferredCall, BaseException)
    with collect_requests(), pytest.raises(DeferredCall):  # the call must be deferred, not made or swallowed
        try:
            chat(make_lm(), "generic handler")
        except Exception:  # noqa: BLE001 - what step code does; it must not catch the deferral
            pytest.fail("DeferredCall was swallowed by `except Exception`")


def test_stored_batch_result_replays_as_a_cache_hit(make_lm, stub, ledger):
    lm = make_lm()
    with collect_requests() as collector:
        with pytest.raises(DeferredCall):
            chat(lm, "batch me")
    lm.store(collector.requests[0].key, batch_result())
    reply = chat(lm, "batch me")
    assert reply.cache_hit is True and reply.choices[0].message.content == ANSWER
    assert stub.stats()["requests"] == 0 and ledger.summary()["roles"]["strong"]["cache_hits"] == 1


def test_hits_are_served_while_collecting(make_lm, stub):
    lm = make_lm()
    chat(lm, "already cached")
    with collect_requests() as collector:
        assert chat(lm, "already cached").cache_hit is True
    assert len(collector) == 0


def test_dspy_predict_propagates_the_deferral_and_replays_after_store(make_lm, stub):
    lm = make_lm()
    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=lm):
        with collect_requests() as collector:
            with pytest.raises(DeferredCall):
                predict(question="six times seven?")
        lm.store(collector.requests[0].key, batch_result())
        assert predict(question="six times seven?").answer == "42"
    assert stub.stats()["requests"] == 0


def test_score_requests_are_collected_too(make_lm, stub):
    lm = make_lm()
    with collect_requests() as collector:
        with pytest.raises(DeferredCall):
            lm.score("score me")
    (request,) = collector.requests
    assert request.path == "/completions" and request.body["echo"] is True and request.body["prompt"] == "score me"
    lm.store(request.key, {"choices": [{"text": "score me x", "logprobs": {
        "tokens": ["score", " me", " x"], "token_logprobs": [None, -1.0, -2.0], "text_offset": [0, 5, 8]}}]})
    assert lm.score("score me").tokens == ["score", " me"] and stub.stats()["requests"] == 0


def test_worker_threads_collect_into_the_same_collector(make_lm):
    lm = make_lm()

    def call(i):
        try:
            chat(lm, f"q{i}")
        except DeferredCall as deferred:
            return deferred.request.key

    with collect_requests() as collector:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(contextvars.copy_context().run, call, i) for i in range(6)]
            keys = [f.result() for f in futures]
    assert len(collector) == 6 and set(keys) == {r.key for r in collector}


def test_uncacheable_calls_are_not_deferred(make_lm, stub):
    with collect_requests() as collector:
        chat(make_lm(), "no cache for this call", cache=False)
        chat(make_lm(cache=None), "no cache at all")
    assert len(collector) == 0 and stub.stats()["requests"] == 2


def test_store_refuses_garbage_and_needs_a_cache(make_lm, cache):
    with pytest.raises(MalformedReplyError):
        make_lm().store("k", {"no": "choices"})
    assert len(cache) == 0
    with pytest.raises(ValueError, match="no call cache"):
        make_lm(cache=None).store("k", batch_result())


def test_a_collector_answer_completes_the_call_like_a_fresh_reply(make_lm, stub, cache, ledger):
    """The batch executor's hook: the reply is returned (with its usage) and cached like a network reply."""
    lm = make_lm()
    asked = []

    def answer(request):
        asked.append(request.key)
        return batch_result("from the batch")

    with collect_requests(answer=answer) as collector:
        reply = chat(lm, "answered by a batch")
    assert reply.choices[0].message.content == "from the batch" and reply.usage.completion_tokens == 4
    assert len(collector) == 0 and cache.get(asked[0])["choices"][0]["message"]["content"] == "from the batch"
    assert stub.stats()["requests"] == 0 and "strong" not in ledger.summary()["roles"]  # the executor counts it


def test_a_collector_answer_inside_a_rejected_step_is_not_cached(make_lm, cache):
    from codeclm.engine import deferred_cache

    lm = make_lm()
    with collect_requests(answer=lambda request: batch_result("bad")) as collector:
        with deferred_cache():  # a step that rejects the reply never commits
            chat(lm, "rejected")
    assert len(cache) == 0 and len(collector) == 0


def test_a_collector_answer_may_raise_the_requests_failure(make_lm):
    from codeclm.errors import EndpointError

    def answer(request):
        raise EndpointError("request failed in batch b1")

    with collect_requests(answer=answer), pytest.raises(EndpointError, match="failed in batch b1"):
        chat(make_lm(), "failed in its batch")


def test_requests_the_collector_does_not_defer_go_to_the_network(make_lm, stub):
    with collect_requests(defer=lambda request: request.role != "target") as collector:
        assert chat(make_lm(role="target"), "local target").choices[0].message.content == ANSWER
        with pytest.raises(DeferredCall):
            chat(make_lm(role="strong"), "batched strong")
    assert [r.role for r in collector] == ["strong"] and stub.stats()["requests"] == 1


def test_calls_replayed_in_later_rounds_are_not_counted_as_cache_hits_again(make_lm, stub, ledger):
    lm, target, seen = make_lm(), make_lm(role="target"), set()
    with collect_requests(answer=lambda request: batch_result(), defer=lambda r: r.role == "strong", seen=seen):
        chat(lm, "answered by a batch")
        chat(target, "made directly")
    for _ in range(2):  # the executor replays the item after each batch
        with collect_requests(seen=seen):
            chat(lm, "answered by a batch")
            chat(target, "made directly")
    chat(lm, "answered by a batch")  # outside any stage: a cache hit like any other
    roles = ledger.summary()["roles"]
    assert roles["strong"]["cache_hits"] == 1 and roles["target"]["cache_hits"] == 0 and roles["target"]["calls"] == 1
