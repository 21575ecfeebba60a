"""Side-by-side generation in the local server (codeclm.local.server.batching) and the machine-wide turn
(codeclm.local.server.turns): routing, reply shapes and cancellation on fakes; batching, shared prefixes,
limits and errors on the real SmolLM2 (live).
Runs against: fakes for routing and shapes; the real SmolLM2-135M on llama.cpp for the tests marked live.
"""

import asyncio
import concurrent.futures
import importlib.util
import json
import multiprocessing
import re
import time

import pytest

from codeclm.engine.stream import ChatStream
from codeclm.local.server.batching.http_layer import BatchingMiddleware, text_only
from codeclm.local.server.batching.sequence import Sequence
from codeclm.local.server.turns import Turns
from local_helpers import SMALL

CHAT = {"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}]}


@pytest.mark.parametrize("extra, batched", [
    ({}, True),
    ({"stream": True, "seed": 3, "max_tokens": 8, "stop": ["\n"]}, True),
    ({"response_format": {"type": "text"}}, True),
    ({"response_format": {"type": "json_object"}}, False),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, False),
    ({"logprobs": True, "top_logprobs": 5}, False),
    ({"grammar": "root ::= \"a\""}, False),
    ({"logit_bias": {"1": 5}}, False),
    ({"n": 2}, False),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi."}]}]}, False),
    ({"messages": []}, False),
])
def test_only_text_requests_share_a_batch(extra, batched):
    assert text_only({**CHAT, **extra}) is batched


def test_a_batched_request_samples_with_the_servers_defaults_where_it_sets_none():
    """The same defaults llama-cpp-python's own path applies (its request model's), a null meaning the default."""
    pytest.importorskip("llama_cpp")
    from codeclm.local.server.batching.sequence import sampling_parameters

    defaults = {"temperature": 0.8, "top_p": 0.95, "min_p": 0.05, "top_k": 40, "repeat_penalty": 1.1,
                "frequency_penalty": 0.0, "presence_penalty": 0.0}
    assert sampling_parameters({}) == defaults
    chosen = sampling_parameters({"temperature": None, "top_k": 5, "seed": 7, "presence_penalty": None})
    assert chosen == {**defaults, "top_k": 5, "seed": 7}


class _FakeBatcher:
    """Takes the sequence and answers it after `delay` seconds (never, when delay is None)."""

    def __init__(self, delay=0.01, text="Hello there.", reason="stop"):
        self.delay, self.text, self.reason, self.seqs = delay, text, reason, []

    async def submit(self, seq: Sequence) -> None:
        self.seqs.append(seq)
        seq.prompt, seq.out = [1, 2, 3], [7, 8]
        if self.delay is not None:
            asyncio.get_running_loop().call_later(self.delay, self._finish, seq)

    def _finish(self, seq):
        seq.text = self.text
        seq.finish(self.reason)


def _call(middleware, body: dict | bytes, disconnect_after: float | None = None):
    """Send one POST /v1/chat/completions through the middleware; the ASGI messages it sent back."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent, requests = [], [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive():
        if requests:
            return requests.pop(0)
        if disconnect_after is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(disconnect_after)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions"}
    asyncio.run(asyncio.wait_for(middleware(scope, receive, send), 10))
    return sent


def _body(sent) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_other_requests_reach_llama_cpp_python_with_their_body_intact():
    seen = {}

    async def app(scope, receive, send):
        seen["body"] = (await receive())["body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    batcher = _FakeBatcher()
    body = {**CHAT, "response_format": {"type": "json_object"}}
    _call(BatchingMiddleware(app, batcher), body)
    assert json.loads(seen["body"]) == body and batcher.seqs == []
    _call(BatchingMiddleware(app, batcher), b"not json")  # llama-cpp-python answers bad JSON itself
    assert seen["body"] == b"not json"


def test_a_batched_reply_has_the_servers_shape_with_usage_and_timings():
    sent = _call(BatchingMiddleware(None, _FakeBatcher()), CHAT)
    assert sent[0]["status"] == 200
    reply = json.loads(_body(sent))
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": "Hello there."}
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"]["prompt_tokens"] == 3 and reply["usage"]["completion_tokens"] == 2
    assert reply["timings"]["predicted_n"] == 2


def test_a_streamed_batched_reply_reads_back_as_the_same_answer():
    sent = _call(BatchingMiddleware(None, _FakeBatcher(reason="length")), {**CHAT, "stream": True})
    stream = ChatStream()
    for line in _body(sent).decode().splitlines():
        stream.feed(line)
    reply = stream.reply()
    assert stream.done and reply.choices[0].message.content == "Hello there."
    assert reply.choices[0].finish_reason == "length" and reply.usage["completion_tokens"] == 2


def test_an_error_reaches_the_client_as_an_error_not_a_dropped_connection():
    class Failing(_FakeBatcher):
        def _finish(self, seq):
            seq.finish(error=(400, "Requested tokens (3000) exceed context window of 2048"))

    sent = _call(BatchingMiddleware(None, Failing()), CHAT)
    assert sent[0]["status"] == 400 and "exceed context window" in json.loads(_body(sent))["error"]["message"]
    stream = ChatStream()
    with pytest.raises(Exception, match="context window"):
        for line in _body(_call(BatchingMiddleware(None, Failing()), {**CHAT, "stream": True})).decode().splitlines():
            stream.feed(line)


def test_a_client_that_goes_away_frees_its_sequence():
    batcher = _FakeBatcher(delay=None)  # the answer never comes
    sent = _call(BatchingMiddleware(None, batcher), CHAT, disconnect_after=0.05)
    assert batcher.seqs[0].cancelled and _body(sent) == b""
    batcher = _FakeBatcher(delay=None)
    _call(BatchingMiddleware(None, batcher), {**CHAT, "stream": True}, disconnect_after=0.05)
    assert batcher.seqs[0].cancelled


def _hold_turn(path, held, release):
    turns = Turns(path)
    with turns.turn():
        held.set()
        release.wait(10)


def test_one_process_computes_at_a_time_and_a_turn_is_reentrant(tmp_path):
    path = str(tmp_path / "compute.lock")
    held, release = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.get_context("fork").Process(target=_hold_turn, args=(path, held, release))
    other.start()
    try:
        assert held.wait(10)
        turns = Turns(path)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(lambda: turns.turn().__enter__())
            time.sleep(0.3)
            assert not waiting.done()  # the other process holds the turn
            release.set()
            waiting.result(timeout=10)
        with turns.turn():  # re-entrant within a process (chat requests go through create_completion)
            pass
    finally:
        release.set()
        other.join(10)


# --- live: the real SmolLM2 -------------------------------------------------------------------------------


def _server(**kw):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[local]')")
    from codeclm.local import LocalServer

    return LocalServer(SMALL, **kw)


def _lm(server):
    from codeclm.engine import EngineLM, RetryPolicy

    return EngineLM(f"openai/{SMALL}", api_base=server.api_base, api_key="local", stream_for_cancel=True,
                    retry=RetryPolicy(max_tries=1, base_delay=0.01))


def _batch_sizes(server) -> list[int]:
    """How many requests each batch ran side by side, from the line the server logs per batch (the replies carry
    each request's usage and timings, not who shared its steps)."""
    return [int(n) for n in re.findall(r"codeclm batch: (\d+) requests side by side",
                                       server.log_path.read_text(errors="replace"))]


@pytest.mark.live
def test_concurrent_requests_share_steps_and_their_prompt_prefixes():
    """Two steps' prompts, three requests each, sent at once (as a stage's items are): they run in one batch,
    each request after its step's first reuses the step's long instructions, and plain, JSON-format and
    scoring requests all get their answers."""
    step_a, step_b = "You encode instructions. " * 40, "You decode metadata. " * 40
    with _server(slots=8) as server:
        before = len(_batch_sizes(server))
        lm = _lm(server)

        def ask(system, i):
            return lm.forward(messages=[{"role": "system", "content": system}, {"role": "user", "content": f"Item {i}."}],
                              max_tokens=16, temperature=0)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda a: ask(*a), [(step_a, 0), (step_b, 0), (step_a, 1), (step_b, 1),
                                                        (step_a, 2), (step_b, 2)]))
            as_json = pool.submit(lm.forward, messages=[{"role": "user", "content": "Give a JSON object."}], max_tokens=16,
                                  response_format={"type": "json_object"})
            as_json.result()
        for reply in replies:
            assert reply.choices[0].finish_reason in ("stop", "length") and reply.usage["completion_tokens"] > 0
        reused = sorted(r.usage["prompt_tokens_details"]["cached_tokens"] for r in replies)
        assert sum(n > 150 for n in reused) >= 4, reused  # all but each step's first
        assert max(_batch_sizes(server)[before:]) >= 2


@pytest.mark.live
def test_a_batched_request_keeps_its_token_budget_and_stop_strings():
    with _server(slots=4) as server:
        lm = _lm(server)
        cut = lm.forward(messages=[{"role": "user", "content": "Tell a long story about a dragon."}], max_tokens=5)
        assert cut.choices[0].finish_reason == "length" and cut.usage["completion_tokens"] == 5
        stopped = lm.forward(messages=[{"role": "user", "content": "List three fruits, one per line."}], max_tokens=64,
                             stop=["\n"], temperature=0)
        assert "\n" not in stopped.choices[0].message.content and stopped.choices[0].finish_reason == "stop"
