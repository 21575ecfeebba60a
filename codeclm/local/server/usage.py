"""Token accounting from llama.cpp's own counters, for ``llama_cpp.server`` (runs in the server process).

llama-cpp-python 0.3.36 sends no usage on a streamed reply (codeclm streams local requests so
that a timeout or Ctrl-C cancels the server's work), and never says how many prompt tokens it
reused from a cached prefix. ``install()`` wraps ``create_chat_completion``: each request resets
llama.cpp's per-context counters, and when the reply is complete it reports
``usage`` (prompt, completion and ``prompt_tokens_details.cached_tokens``) and ``timings``
(evaluated prompt tokens and milliseconds, generated tokens and milliseconds, as upstream
llama-server names them), in the reply or, when streamed, in a last chunk with no choices
(OpenAI's ``stream_options.include_usage`` shape). A request llama-cpp-python refuses once the
stream has begun (a prompt longer than the context) ends in an error chunk, which the client
reads as that error, instead of a reset connection that looks like a dead server.
"""

from __future__ import annotations

import time
from typing import Any, Iterator


def install() -> None:
    """Patch ``llama_cpp.Llama.create_chat_completion`` to report usage and timings from the context's counters."""
    import llama_cpp

    original = llama_cpp.Llama.create_chat_completion

    def create_chat_completion(self, *args, **kwargs):
        self._ctx.reset_timings()
        result = original(self, *args, **kwargs)
        if isinstance(result, dict):
            return with_counts(self, result)
        return _streamed(self, result)

    llama_cpp.Llama.create_chat_completion = create_chat_completion


def counts(llama) -> dict[str, Any]:
    """llama.cpp's counters since the request began: evaluated prompt tokens, generated tokens, their time."""
    import llama_cpp

    data = llama_cpp.llama_perf_context(llama._ctx.ctx)
    return {"prompt_n": int(data.n_p_eval), "prompt_ms": round(data.t_p_eval_ms, 2),
            "predicted_n": int(data.n_eval), "predicted_ms": round(data.t_eval_ms, 2)}


def usage_from(timings: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    cached = max(0, prompt_tokens - timings["prompt_n"])
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens, "prompt_tokens_details": {"cached_tokens": cached}}


def with_counts(llama, reply: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed reply with the reused prefix and the timings added to its usage."""
    timings = counts(llama)
    usage = reply.get("usage") or {}
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    timings["cache_n"] = max(0, prompt - timings["prompt_n"])
    return {**reply, "usage": usage_from(timings, prompt, completion), "timings": timings}


def _streamed(llama, chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The chunks as they come, then one chunk with usage and timings (the prompt is what llama.cpp
    evaluated plus what it reused: the tokens kept in the context when generation began)."""
    last: dict[str, Any] = {}
    generated = 0
    try:
        for chunk in chunks:
            last = chunk
            generated += sum(1 for c in chunk.get("choices") or [] if (c.get("delta") or {}).get("content"))
            yield chunk
    except ValueError as exc:  # e.g. "Requested tokens (3004) exceed context window of 2048", raised mid-stream
        yield {"error": {"message": str(exc), "type": "invalid_request_error", "code": 400}}  # not a dropped connection
        return
    timings = counts(llama)
    completion = timings["predicted_n"] or generated
    prompt = max(0, llama.n_tokens - completion)  # context = prompt (evaluated or reused) + generated
    timings["cache_n"] = max(0, prompt - timings["prompt_n"])
    yield {"id": last.get("id", "chatcmpl"), "object": "chat.completion.chunk", "created": last.get("created", int(time.time())),
           "model": last.get("model", ""), "choices": [], "usage": usage_from(timings, prompt, completion), "timings": timings}
