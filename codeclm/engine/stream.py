"""Assemble a streamed chat completion (server-sent events) into the reply a plain call returns.

Streaming is used only so that closing the connection cancels the server's work
(llama-cpp-python stops generating when a streaming client disconnects, never for a
plain request). The caller still gets one reply: content, reasoning, tool calls,
finish_reason, logprobs and usage, as in a non-streamed ``chat.completion``.

A refusal streamed in ``delta.refusal`` (OpenAI) becomes ``message.refusal``, as in a plain reply.
An error inside the stream is raised as the server's error (HTTPStatusFailure with its code):
OpenAI-style ``data: {"error": ...}`` chunks and llama.cpp's ``error: {...}`` lines (its server
writes a failure after the headers as an SSE field named ``error``), never "ended early".

When the server sends no usage (llama-cpp-python ignores ``stream_options``), the
completion tokens are counted as the chunks that carried text (one token per chunk on
llama.cpp), prompt tokens as 0, and the reply says ``"usage_estimated": true``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from codeclm.engine.failures import failure_from_error
from codeclm.engine.reply import Reply, as_reply
from codeclm.errors import MalformedReplyError


@dataclass
class _Choice:
    role: str = "assistant"
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    logprobs: list[Any] | None = None
    finish_reason: str | None = None
    text_chunks: int = 0

    def add(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        self.role = delta.get("role") or self.role
        if delta.get("content"):
            self.content.append(delta["content"])
            self.text_chunks += 1
        if delta.get("reasoning_content"):
            self.reasoning.append(delta["reasoning_content"])
        if delta.get("refusal"):
            self.refusal.append(delta["refusal"])
        for call in delta.get("tool_calls") or []:
            self._add_tool_call(call)
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict) and logprobs.get("content") is not None:
            self.logprobs = (self.logprobs or []) + list(logprobs["content"])
        self.finish_reason = choice.get("finish_reason") or self.finish_reason

    def _add_tool_call(self, call: dict[str, Any]) -> None:
        slot = self.tool_calls.setdefault(call.get("index", len(self.tool_calls)),
                                          {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        slot["id"] = call.get("id") or slot["id"]
        slot["type"] = call.get("type") or slot["type"]
        function = call.get("function") or {}
        slot["function"]["name"] += function.get("name") or ""
        slot["function"]["arguments"] += function.get("arguments") or ""

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": "".join(self.content)}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
            if not self.content:
                message["content"] = None
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
            if not self.content:
                message["content"] = None  # as a plain reply carries a refusal
        return message


class ChatStream:
    """Feed it the lines of an SSE body; ``reply()`` returns the assembled chat completion."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.choices: dict[int, _Choice] = {}
        self.usage: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        self.done = False

    def feed(self, line: str) -> None:
        """One line of the event stream (comments, ``event:`` lines and blanks are skipped)."""
        if line.startswith("error:"):  # llama.cpp: `error: {"code": 500, "message": ..., "type": ...}`
            self._raise_error(line[6:].strip())
        if not line.startswith("data:"):
            return
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise MalformedReplyError(f"a streamed chunk is not JSON (starts {data[:60]!r})") from None
        if not isinstance(chunk, dict):
            raise MalformedReplyError("a streamed chunk is not a JSON object")
        if "error" in chunk:
            raise _stream_failure(chunk)
        self._add(chunk)

    @staticmethod
    def _raise_error(data: str) -> None:
        try:
            error = json.loads(data)
        except ValueError:
            error = {"message": data or "(no message)"}
        raise _stream_failure(error if isinstance(error, dict) else {"message": str(error)})

    def _add(self, chunk: dict[str, Any]) -> None:
        for name in ("id", "model", "created", "system_fingerprint"):
            if name in chunk and name not in self.head:
                self.head[name] = chunk[name]
        for choice in chunk.get("choices") or []:
            self.choices.setdefault(choice.get("index", 0), _Choice()).add(choice)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if chunk.get("timings"):
            self.extra["timings"] = chunk["timings"]

    def reply(self) -> Reply:
        """The assembled ``chat.completion``; MalformedReplyError if the stream held no finished answer."""
        if not self.choices or not (self.done or any(c.finish_reason for c in self.choices.values())):
            raise MalformedReplyError("the stream ended before the answer finished")
        choices = [{"index": i, "message": c.message(), "finish_reason": c.finish_reason,
                    "logprobs": {"content": c.logprobs} if c.logprobs is not None else None}
                   for i, c in sorted(self.choices.items())]
        data = {**self.head, "object": "chat.completion", "choices": choices, **self.extra}
        if self.usage is not None:
            data["usage"] = self.usage
        else:
            generated = sum(c.text_chunks for c in self.choices.values())
            data["usage"] = {"prompt_tokens": 0, "completion_tokens": generated, "total_tokens": generated}
            data["usage_estimated"] = True
        return as_reply(data)


def _stream_failure(data: dict[str, Any]):
    """The server's error sent inside a stream, with its HTTP-like code when it gives one (else 500)."""
    error = data.get("error", data)
    code = error.get("code") if isinstance(error, dict) else None
    return failure_from_error(code if isinstance(code, int) and 400 <= code <= 599 else 500, data)
