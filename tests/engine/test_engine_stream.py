"""stream_for_cancel: streamed chat assembled into the plain reply, and abandoned work cancelled on the server.

Runs against: the stub OpenAI-compatible server tests/engine/fake_openai.py on 127.0.0.1 (a test fake, not a model).
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from engine_helpers import chat

from codeclm.engine import RetryPolicy
from codeclm.engine.http import RequestCancelled
from codeclm.engine.stream import ChatStream
from codeclm.errors import ContextLengthError, EndpointTimeoutError, MalformedReplyError

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")


@pytest.fixture
def streamed(make_lm, sleeps):
    def make(**overrides):
        return make_lm(stream_for_cancel=True, **overrides)

    return make


def test_streamed_reply_matches_the_plain_one(streamed, make_lm, stub):
    stub.rich, stub.finish_reason = True, "length"
    plain = chat(make_lm(cache=None), "same answer?", logprobs=True, max_tokens=5)
    stream = chat(streamed(cache=None), "same answer?", logprobs=True, max_tokens=5)
    plain_body, stream_body = stub.bodies
    assert stream_body["stream"] is True and stream_body["stream_options"] == {"include_usage": True}
    assert {k: v for k, v in stream_body.items() if not k.startswith("stream")} == plain_body
    for field in ("content", "role"):
        assert stream.choices[0].message[field] == plain.choices[0].message[field]
    assert stream.choices[0].finish_reason == plain.choices[0].finish_reason == "length"
    assert stream.choices[0].logprobs == plain.choices[0].logprobs
    assert stream.usage.completion_tokens == len(stub.stream_tokens) and stream.usage.prompt_tokens == 11


def test_streamed_reply_is_cached_and_counted(streamed, stub, ledger):
    lm = streamed()
    first = chat(lm, "cache me")
    assert chat(lm, "cache me").cache_hit is True and stub.stats()["requests"] == 1
    row = ledger.summary()["roles"]["strong"]
    assert (row["calls"], row["completion_tokens"], row["prompt_tokens"]) == (1, len(stub.stream_tokens), 11)
    assert first.choices[0].message.content == "".join(stub.stream_tokens)


def test_timeout_closes_the_stream_stops_the_server_and_is_not_retried(streamed, stub, sleeps):
    stub.chunk_delay = 0.1
    stub.stream_tokens = ["tok"] * 60  # ~6 s of work if nobody stops it
    lm = streamed(retry=RetryPolicy(max_tries=3, base_delay=0.01, timeout=0.5, sleep=sleeps))
    start = time.monotonic()
    with pytest.raises(EndpointTimeoutError) as err:
        chat(lm, "long answer")
    assert time.monotonic() - start < 2.0
    assert "timed out after 0.5 s and was cancelled" in str(err.value) and err.value.tries == 1
    assert stub.disconnected.wait(2.0), "the server never saw the client go away"
    assert not stub.stream_finished and stub.chunks_sent < 20
    assert stub.stats()["requests"] == 1 and sleeps == []


def test_keyboard_interrupt_closes_the_stream(streamed, stub):
    stub.chunk_delay = 0.05
    stub.stream_tokens = ["tok"] * 100
    main = threading.main_thread().ident
    assert threading.get_ident() == main
    # A shell that starts a job in the background (`cmd &`) leaves SIGINT ignored, and Python then installs no
    # handler of its own: give this test Python's Ctrl-C handler wherever pytest was started from.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, signal.pthread_kill, args=(main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):  # a 10 s timeout: a loaded machine may deliver the signal late, never the timeout first
            chat(streamed(retry=RetryPolicy(max_tries=1, timeout=10.0)), "interrupt me")
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert stub.disconnected.wait(2.0) and not stub.stream_finished


def test_cancel_inflight_from_another_thread(streamed, stub):
    stub.chunk_delay = 0.05
    stub.stream_tokens = ["tok"] * 100
    lm = streamed()
    errors = []

    def call():
        try:
            chat(lm, "cancel me")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.3)
    lm.cancel_inflight()
    worker.join(2.0)
    assert not worker.is_alive() and len(errors) == 1 and isinstance(errors[0], RequestCancelled)
    assert stub.disconnected.wait(2.0) and stub.stats()["requests"] == 1


def test_cancel_all_inflight_reaches_worker_threads_of_every_endpoint(streamed, stub):
    """What an interrupted run does before joining its workers."""
    from codeclm.engine.http import cancel_all_inflight

    stub.chunk_delay = 0.05
    stub.stream_tokens = ["tok"] * 100
    lm = streamed()
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(chat, lm, f"worker {i}") for i in range(2)]
        time.sleep(0.3)
        cancel_all_inflight()
        errors = [f.exception(timeout=2.0) for f in futures]
    assert all(isinstance(e, RequestCancelled) for e in errors) and not stub.stream_finished


def test_server_that_rejects_stream_options_is_asked_again_without(streamed, stub):
    stub.script.append("reject-stream-options")
    reply = chat(streamed(cache=None), "no options")
    assert reply.choices[0].message.content == "".join(stub.stream_tokens)
    assert [("stream_options" in b) for b in stub.bodies] == [True, False]
    chat(streamed(cache=None), "again")  # remembered for this endpoint
    assert "stream_options" not in stub.bodies[-1]


def test_server_that_ignores_stream_still_answers(streamed, stub):
    stub.ignore_stream = True
    reply = chat(streamed(cache=None), "one piece")
    assert stub.bodies[0]["stream"] is True and reply.choices[0].message.content == "".join(stub.stream_tokens)


def test_usage_is_estimated_when_the_stream_has_none(streamed, stub, ledger):
    stub.send_usage_chunk = False  # llama-cpp-python ignores stream_options
    reply = chat(streamed(), "no usage")
    assert reply.usage_estimated is True and reply.usage.completion_tokens == len(stub.stream_tokens)
    assert ledger.summary()["roles"]["strong"]["completion_tokens"] == len(stub.stream_tokens)


def test_error_sent_inside_the_stream_is_named(streamed, stub):
    stub.script.append("stream-error")
    with pytest.raises(ContextLengthError) as err:
        chat(streamed(), "too long")
    assert (err.value.tokens, err.value.limit) == (3000, 2048) and stub.stats()["requests"] == 1


def test_chat_stream_assembles_tool_calls_and_skips_comments():
    stream = ChatStream()
    for line in [": ping", "event: message",
                 'data: {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", '
                 '"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", '
                 '"arguments": "{\\"a\\": "}}]}}]}',
                 'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": '
                 '{"arguments": "1}"}}]}, "finish_reason": "tool_calls"}]}',
                 "data: [DONE]"]:
        stream.feed(line)
    reply = stream.reply()
    call = reply.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "add", '{"a": 1}')
    assert reply.choices[0].message.content is None and reply.choices[0].finish_reason == "tool_calls"


def test_chat_stream_that_ends_early_is_malformed():
    stream = ChatStream()
    stream.feed('data: {"choices": [{"index": 0, "delta": {"content": "half"}}]}')
    with pytest.raises(MalformedReplyError):
        stream.reply()
    with pytest.raises(MalformedReplyError):
        ChatStream().feed("data: {not json")


def test_llama_cpp_error_field_mid_stream_is_the_servers_error(streamed, stub, sleeps):
    """llama.cpp writes a failure after the headers as `error: {...}`: its 400 is final, not an answer that
    'ended early' (malformed, retried)."""
    from codeclm.errors import EndpointError

    stub.script.append("stream-error-field")
    with pytest.raises(EndpointError, match="HTTP 400: failed to parse grammar") as err:
        chat(streamed())
    assert "ended" not in str(err.value) and stub.stats()["requests"] == 1 and sleeps == []


def test_chat_stream_reads_error_fields():
    from codeclm.engine.failures import HTTPStatusFailure

    with pytest.raises(HTTPStatusFailure) as err:
        ChatStream().feed('error: {"code": 400, "message": "the request exceeds the available context size", '
                          '"type": "exceed_context_size_error"}')
    assert (err.value.status, err.value.error_type) == (400, "exceed_context_size_error")
    with pytest.raises(HTTPStatusFailure) as err:
        ChatStream().feed("error: not json at all")
    assert err.value.status == 500 and "not json at all" in err.value.message


def test_streamed_refusal_is_read_as_a_refusal(streamed, stub):
    stub.script.append("stream-refusal")
    message = chat(streamed()).choices[0].message
    assert message.refusal == "I can't help with that." and message.content is None
