"""The batch's HTTP side: which chat requests join a batch, and their replies in llama-cpp-python's shapes
(runs in the server process, on its event loop).

A middleware in front of llama-cpp-python's app (starlette's pure-ASGI form, so streamed replies and
client disconnects pass through untouched) reads each ``POST /v1/chat/completions``: a request that
needs nothing but sampled text goes to the scheduler and is answered with starlette's
``JSONResponse`` or sse-starlette's ``EventSourceResponse`` (as llama-cpp-python answers, ``sep="\\n"``),
every other request reaches llama-cpp-python's app with its body intact.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import TYPE_CHECKING, Any, AsyncIterator

from sse_starlette.sse import EventSourceResponse
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from codeclm.local.server.batching.sequence import Sequence

if TYPE_CHECKING:
    from llama_cpp.llama_types import CreateChatCompletionResponse, CreateChatCompletionStreamResponse

    from codeclm.local.server.batching.scheduler import Batcher

CHAT_PATH = "/v1/chat/completions"
_NOT_TEXT_ONLY = ("tools", "functions", "tool_choice", "function_call", "logit_bias", "grammar", "logprobs",
                  "top_logprobs", "mirostat_mode", "min_tokens")


def text_only(body: Any) -> bool:
    """A chat request that needs nothing but sampled text, one choice: it can share a batch."""
    if not isinstance(body, dict) or any(body.get(name) for name in _NOT_TEXT_ONLY):
        return False
    if body.get("response_format") not in (None, {"type": "text"}) or body.get("n") not in (None, 1):
        return False
    messages = body.get("messages")
    return isinstance(messages, list) and bool(messages) and all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
        for m in messages)


class BatchingMiddleware:
    """Text-only chat requests go to the batcher; everything else to llama-cpp-python's app."""

    def __init__(self, app, batcher: Batcher):
        self.app, self.batcher = app, batcher

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != CHAT_PATH:
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        try:
            raw = await request.body()
        except ClientDisconnect:
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not text_only(body):
            return await self.app(scope, _replay(raw, receive), send)
        seq = Sequence(body=body, loop=asyncio.get_running_loop())
        await self.batcher.submit(seq)
        try:
            if body.get("stream"):
                response = EventSourceResponse(_events(seq, body), sep="\n")  # watches for a disconnect itself
            else:
                response = await _answer(seq, body, request)
                if response is None:
                    return
            await response(scope, receive, send)
        except OSError:  # the client went away while we wrote
            seq.cancelled = True


def _replay(raw: bytes, receive):
    """``receive`` for the app behind: the body already read, then the client's own messages."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


async def _answer(seq: Sequence, body: dict[str, Any], request: Request) -> JSONResponse | None:
    """The whole reply once the sequence is done; None when the client went away first (its slot is freed)."""
    watcher = asyncio.ensure_future(_watch_disconnect(request, seq))
    try:
        await seq.done.wait()
    finally:
        watcher.cancel()
    if seq.cancelled:
        return None
    if seq.error:
        return JSONResponse(_error(seq), status_code=seq.error[0])
    return JSONResponse(_completion(seq, body))


async def _watch_disconnect(request: Request, seq: Sequence) -> None:
    """A client that goes away frees its slot at the next step, and its handler stops waiting."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            seq.cancelled = True
            seq.done.set()
            return


async def _events(seq: Sequence, body: dict[str, Any]) -> AsyncIterator[dict[str, str]]:
    """Server-sent events: the role at once (the client knows the request is taken), then the text,
    the finish reason, usage and timings in one last chunk (OpenAI's include_usage shape), [DONE].
    A client that goes away cancels this generator, which frees the sequence's slot."""
    head = {"id": f"chatcmpl-{uuid.uuid4()}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model") or ""}

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, str]:
        payload: CreateChatCompletionStreamResponse = {**head, "choices": choices, **extra}  # type: ignore[typeddict-item]
        return {"data": json.dumps(payload)}

    finished = False
    try:
        yield chunk([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])
        await seq.done.wait()
        if seq.error:
            yield {"data": json.dumps(_error(seq))}
        else:
            yield chunk([{"index": 0, "delta": {"content": seq.text}, "finish_reason": None}])
            yield chunk([{"index": 0, "delta": {}, "finish_reason": seq.finish_reason}])
            yield chunk([], usage=seq.usage(), timings=seq.timings())
        yield {"data": "[DONE]"}
        finished = True
    finally:
        if not finished:
            seq.cancelled = True


def _completion(seq: Sequence, body: dict[str, Any]) -> CreateChatCompletionResponse:
    return {"id": f"chatcmpl-{uuid.uuid4()}", "object": "chat.completion", "created": int(time.time()),  # type: ignore[typeddict-unknown-key]
            "model": body.get("model") or "", "choices": [{"index": 0, "message": {"role": "assistant",
            "content": seq.text}, "logprobs": None, "finish_reason": seq.finish_reason}],
            "usage": seq.usage(), "timings": seq.timings()}


def _error(seq: Sequence) -> dict[str, Any]:
    status, message = seq.error
    return {"error": {"message": message, "type": "invalid_request_error" if status == 400 else "server_error",
                      "code": status}}
