"""Errors named for what they are, on both paths: refused or dropped connections,
context-length overflows (an item-level drop, never retried) and malformed replies (never cached).
Runs against: the stub OpenAI-compatible server tests/engine/fake_openai.py on 127.0.0.1 (a test fake, not a model).
"""

from __future__ import annotations

import pytest
from engine_helpers import chat

from codeclm.engine import RetryPolicy
from codeclm.errors import (ContextLengthError, EndpointConnectionError, EndpointError, MalformedReplyError,
                            StepError)

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")


@pytest.fixture(params=["direct", "litellm"])
def transport(request) -> str:
    return request.param


def test_refused_connection_says_so_and_is_retried(make_lm, sleeps):
    with pytest.raises(EndpointConnectionError) as err:
        chat(make_lm(api_base="http://127.0.0.1:9/v1"))  # nothing listens on port 9
    message = str(err.value)
    assert "connection refused" in message and "HTTP 500" not in message and "\n" not in message
    assert err.value.status is None and err.value.tries == 3 and err.value.retryable and len(sleeps) == 2


def test_dropped_connection_says_so(make_lm, stub):
    stub.rates = {"drop": 1.0}
    with pytest.raises(EndpointConnectionError) as err:
        chat(make_lm())
    assert "connection dropped" in str(err.value) and "HTTP 500" not in str(err.value)
    assert err.value.status is None and stub.stats()["requests"] == 3


@pytest.mark.parametrize("fault,tokens,limit", [("ctx-openai", 9000, 8192), ("ctx-llama", 3000, 2048),
                                                ("ctx-vllm", 5000, 4096)])
def test_context_length_is_an_item_level_error_never_retried(make_lm, stub, sleeps, ledger, fault, tokens, limit):
    stub.script.append(fault)
    with pytest.raises(ContextLengthError) as err:
        chat(make_lm(role="target"))
    error = err.value
    assert not isinstance(error, EndpointError) and isinstance(error, StepError) and not error.endpoint_failure
    assert (error.tokens, error.limit, error.retryable) == (tokens, limit, False)
    message = str(error)
    assert f"needs {tokens} tokens" in message and f"holds {limit}" in message
    assert error.reason.startswith("target model openai/stub-model at ") and "\n" not in message
    assert message.endswith("use a model with a longer context)")  # whole, never cut
    assert stub.stats()["requests"] == 1 and sleeps == []
    assert ledger.summary()["roles"]["target"]["failures"] == 1


def test_malformed_reply_is_retried_and_never_cached(make_lm, stub, cache, sleeps):
    stub.rates = {"garbage": 1.0}
    lm = make_lm()
    with pytest.raises(MalformedReplyError) as err:
        chat(lm)
    assert "malformed reply" in str(err.value) and err.value.retryable and err.value.status is None
    assert stub.stats()["requests"] == 3 and len(cache) == 0


def test_garbage_then_a_good_reply_caches_only_the_good_one(make_lm, stub, cache):
    stub.script.append("garbage")
    lm = make_lm()
    first = chat(lm)
    assert first.choices[0].message.content.startswith("[[ ## answer")
    stub.reset()
    assert chat(lm).cache_hit is True and stub.stats()["requests"] == 0 and len(cache) == 1


def test_json_without_choices_is_malformed(make_lm, stub, cache):
    stub.script.extend(["no-choices"] * 3)
    with pytest.raises(MalformedReplyError):
        chat(make_lm())
    assert len(cache) == 0


def test_context_length_drops_only_the_item_in_a_run(make_lm, stub):
    """Through the runner (as steps re-raise CodecLMErrors today): the item fails, the run goes on."""
    from codeclm.executors import ThreadExecutor as Runner

    lm = make_lm()
    stub.script.append("ctx-openai")
    outcomes = Runner(concurrency=1, abort_after=1).map("respond", lambda text: chat(lm, text), ["too long", "fine"])
    assert [o.ok for o in outcomes] == [False, True]
    assert outcomes[0].stage == "context length" and "needs 9000 tokens" in outcomes[0].error


def test_timeouts_without_streaming_are_retried(make_lm, stub, sleeps):
    stub.slow_seconds = 1.0
    stub.rates = {"slow": 1.0}
    lm = make_lm(retry=RetryPolicy(max_tries=2, base_delay=0.01, timeout=0.2, sleep=sleeps))
    with pytest.raises(EndpointError) as err:
        chat(lm)
    assert err.value.tries == 2 and stub.stats()["requests"] == 2
    assert "no reply within 0.2 s" in str(err.value) or "imeout" in str(err.value)


@pytest.mark.parametrize("status,error,expected", [
    (400, {"message": "the request exceeds the available context size, try increasing it",
           "type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096}, (5000, 4096)),  # llama.cpp
    (400, {"message": "prompt too long", "code": "context_length_exceeded"}, (None, None)),
    (400, {"message": "This model's maximum context length is 4096 tokens and your request has 100 input tokens "
                      "(4000 > 4096 - 100)."}, (100, 4096)),
    (400, {"message": "stop must be a list", "type": "invalid_request_error"}, None),
    (500, {"message": "CUDA out of memory", "code": "server_error"}, None),
])
def test_context_overflow_dialects(status, error, expected):
    from codeclm.engine.failures import context_overflow, failure_from_error

    assert context_overflow(failure_from_error(status, {"error": error})) == expected


def test_connection_failures_are_told_apart():
    import httpx

    from codeclm.engine.failures import connection_failure

    def raised(inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise RuntimeError("wrapped") from exc
        except RuntimeError as outer:
            return outer

    assert connection_failure(raised(httpx.ConnectError("[Errno 111] Connection refused"))) == "refused"
    assert connection_failure(raised(httpx.ConnectError("[Errno -2] Name or service not known"))) == "unreachable"
    assert connection_failure(raised(httpx.RemoteProtocolError("Server disconnected"))) == "dropped"
    assert connection_failure(raised(ValueError("no"))) is None
