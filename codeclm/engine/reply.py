"""The reply EngineLM returns: the server's JSON as dicts that also allow attribute access.

DSPy 3.4.1 reads what a legacy ``forward()`` returns with ``value(obj, key)`` (``dict.get``
or ``getattr``): ``choices[i].message.content`` / ``reasoning_content`` / ``tool_calls``,
``choices[i].logprobs``, ``usage`` and ``model``; codeclm code and tests use attributes
(``reply.choices[0].message.content``). A dict subclass with ``__getattr__`` serves both and
is built while parsing (``json.loads`` with ``object_pairs_hook``), cheaper than building
litellm's ``ModelResponse`` from the same dict (docs/speed.md), and it keeps every field the
server sent (``finish_reason``, ``logprobs``, ``timings``).
"""

from __future__ import annotations

import json
from typing import Any

from codeclm.errors import MalformedReplyError

ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
_FINISHED_WITHOUT_TEXT = frozenset({"length", "content_filter", "tool_calls"})


class Reply(dict):
    """A JSON object readable as ``reply["choices"]`` and as ``reply.choices``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def model_dump(self, **_: Any) -> dict[str, Any]:
        """A plain-dict deep copy (what pydantic responses offer under the same name)."""
        return json.loads(json.dumps(self))


_DECODER = json.JSONDecoder(object_pairs_hook=Reply)  # built once: json.loads(..., hook) builds one per call


def as_reply(data: Any) -> Any:
    """``data`` with every dict turned into a Reply (lists and scalars kept)."""
    if isinstance(data, dict):
        return Reply((k, as_reply(v)) for k, v in data.items())
    if isinstance(data, list):
        return [as_reply(v) for v in data]
    return data


def parse_reply(content: bytes) -> Reply:
    """The JSON object in ``content``; MalformedReplyError when it is not one."""
    try:
        data = _DECODER.decode(content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise MalformedReplyError(f"the reply is not JSON (starts {_excerpt(content)})") from None
    if not isinstance(data, dict):
        raise MalformedReplyError(f"the reply is JSON but not an object (starts {_excerpt(content)})")
    return data


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def check_chat(reply: Any) -> None:
    """Raise MalformedReplyError unless ``choices[0].message`` carries an answer.

    Usable: text content (even empty), tool calls or a refusal, or no text with a
    finish reason that explains it (``length``, ``content_filter``, ``tool_calls``).
    Works on Reply dicts and on litellm's ModelResponse alike.
    """
    choices = _get(reply, "choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedReplyError("the reply has no choices")
    message = _get(choices[0], "message")
    if message is None or isinstance(message, (str, int, float, list)):
        raise MalformedReplyError("the reply's choices[0] has no message")
    if isinstance(_get(message, "content"), str) or _get(message, "tool_calls") or _get(message, "refusal"):
        return
    if _get(choices[0], "finish_reason") in _FINISHED_WITHOUT_TEXT:
        return
    raise MalformedReplyError("the reply's choices[0].message has no content")


def usage_counts(response: Any) -> tuple[int, int, int]:
    """``(prompt, completion, cached prompt)`` tokens a reply reports; cached from OpenAI's
    ``usage.prompt_tokens_details.cached_tokens`` or llama.cpp's ``timings.cache_n``, else 0."""
    usage = _get(response, "usage")
    if usage is None:
        return 0, 0, 0
    details = _get(usage, "prompt_tokens_details")
    cached = (_get(details, "cached_tokens") if details is not None else None) or 0
    if not cached:
        timings = server_timings(response)
        cached = (timings.get("cache_n") if timings else None) or 0
    return int(_get(usage, "prompt_tokens") or 0), int(_get(usage, "completion_tokens") or 0), int(cached)


def server_timings(response: Any) -> dict[str, Any] | None:
    """llama.cpp's own counts of the call (``timings``: prompt_n, prompt_ms, predicted_n, predicted_ms,
    cache_n), where the server sent them."""
    timings = _get(response, "timings")
    return timings if isinstance(timings, dict) else None


def to_dict(response: Any) -> dict[str, Any]:
    """A JSON-able dict of a Reply or a litellm ModelResponse, without the ``cache_hit`` mark."""
    if isinstance(response, dict):  # a Reply: already plain JSON data, shared (the cache serializes it)
        return {k: v for k, v in response.items() if k not in ("cache_hit", "cached_usage")}
    data = response.model_dump()
    data.pop("cache_hit", None)
    return data


def from_cache(stored: dict[str, Any]) -> Reply:
    """A stored reply as a Reply; like DSPy's own hits it reports no billed usage."""
    reply = as_reply({k: v for k, v in stored.items() if k != "usage"})
    reply["usage"] = Reply(ZERO_USAGE)
    reply["cached_usage"] = as_reply(stored.get("usage"))  # what the answer cost when it was made (answer guards read it)
    reply["cache_hit"] = True
    return reply


def _excerpt(content: bytes, limit: int = 60) -> str:
    text = content[:limit].decode("utf-8", errors="replace")
    return repr(text) + ("…" if len(content) > limit else "")
