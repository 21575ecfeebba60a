"""Naming what went wrong with a call, from the direct path's exceptions and from litellm's alike.

``HTTPStatusFailure`` is what the direct path raises for a non-2xx reply (status,
headers for Retry-After, the server's error message and code). The functions below
read any exception chain (EngineLM -> DSPy -> litellm -> openai -> httpx) and say
whether it is a refused or dropped connection, a malformed reply, or a prompt that
does not fit the model's context window (with the token counts when the server says them).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from codeclm.errors import MalformedReplyError

_MAX_CHAIN = 8

# (regex, group holding the requested tokens, group holding the limit)
_CONTEXT_PATTERNS = (
    # llama-cpp-python's own text (before its server reformats it)
    (re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)"), 1, 2),
    # OpenAI, vLLM and llama-cpp-python's server: "maximum context length is M tokens. However, you requested N"
    (re.compile(r"maximum context length is (\d+) tokens?.*?(?:requested|resulted in|request has|prompt has) (\d+)",
                re.S | re.I), 2, 1),
    (re.compile(r"maximum context length is (\d+) tokens?", re.I), None, 1),
    # llama.cpp's upstream server
    (re.compile(r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)", re.I), 1, 2),
    (re.compile(r"exceeds the available context size", re.I), None, None),
    (re.compile(r"context[_ ]length[_ ]exceeded|context window exceeded", re.I), None, None),
    # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum" (invalid_request_error)
    (re.compile(r"prompt is too long: (\d+) tokens > (\d+) maximum", re.I), 1, 2),
)
_LITELLM_MALFORMED = "provider returned 'choices'"
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_DROPPED = frozenset({"RemoteProtocolError", "ReadError", "WriteError", "ConnectionResetError", "BrokenPipeError",
                      "ConnectionAbortedError", "IncompleteRead"})


class HTTPStatusFailure(Exception):
    """A non-2xx reply: ``status``, ``headers``, the server's ``message``, ``code`` and ``error_type``."""

    def __init__(self, status: int, message: str, *, code: Any = None, error_type: Any = None,
                 headers: Any = None, details: dict[str, Any] | None = None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type
        self.headers = headers
        self.details = details or {}


def status_failure(status: int, content: bytes, headers: Any = None) -> HTTPStatusFailure:
    """The HTTPStatusFailure for a reply's status and body (OpenAI ``{"error": {...}}`` or plain text)."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        data = None
    return failure_from_error(status, data, content, headers)


def failure_from_error(status: int, data: Any, content: bytes = b"", headers: Any = None) -> HTTPStatusFailure:
    """An HTTPStatusFailure from a parsed error body (also used for errors sent inside a stream)."""
    error = data.get("error", data) if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("detail") or json.dumps(error)[:300])
        return HTTPStatusFailure(status, message, code=error.get("code"), error_type=error.get("type"),
                                 headers=headers, details=error)
    if isinstance(error, str):
        return HTTPStatusFailure(status, error, headers=headers)
    text = content.decode("utf-8", errors="replace").strip()
    return HTTPStatusFailure(status, text.splitlines()[0][:300] if text else "(empty body)", headers=headers)


def chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception and its causes, outermost first; ``raise ... from None`` ends the chain."""
    seen = 0
    while exc is not None and seen < _MAX_CHAIN:
        yield exc
        exc = exc.__cause__ if exc.__cause__ is not None or exc.__suppress_context__ else exc.__context__
        seen += 1


def connection_failure(exc: BaseException) -> str | None:
    """How the connection failed, anywhere in the chain: ``"refused"`` (nothing accepted it),
    ``"unreachable"`` (no connection made for another reason: DNS, routing), ``"dropped"``
    (closed before a complete reply) or None."""
    errors = list(chain(exc))
    if any(isinstance(err, ConnectionRefusedError) for err in errors):
        return "refused"
    for err in errors:
        name = type(err).__name__
        if name == "ConnectError":
            return "refused" if "refused" in str(err).lower() else "unreachable"
        if name in _DROPPED:
            return "dropped"
    return None


def is_malformed(exc: BaseException) -> bool:
    """A 200 reply that was not a usable answer (ours, or litellm's failed decode or choices check)."""
    return any(isinstance(err, (MalformedReplyError, json.JSONDecodeError)) or _LITELLM_MALFORMED in str(err)
               for err in chain(exc))


def context_overflow(exc: BaseException) -> tuple[int | None, int | None] | None:
    """``(requested tokens, context limit)`` when the chain says the prompt does not fit, else None."""
    for err in chain(exc):
        code = getattr(err, "code", None)
        details = getattr(err, "details", None) or {}
        text = getattr(err, "message", None) or str(err)
        found = _match_context(str(text))
        if found is None and ("ContextWindow" in type(err).__name__ or _is_context_code(code)
                              or _is_context_code(getattr(err, "error_type", None))):
            found = (None, None)
        if found is not None:
            tokens = found[0] if found[0] is not None else _int(details.get("n_prompt_tokens"))
            limit = found[1] if found[1] is not None else _int(details.get("n_ctx"))
            return tokens, limit
    return None


def _match_context(text: str) -> tuple[int | None, int | None] | None:
    for pattern, tokens_group, limit_group in _CONTEXT_PATTERNS:
        match = pattern.search(text)
        if match:
            return (_int(match.group(tokens_group)) if tokens_group else None,
                    _int(match.group(limit_group)) if limit_group else None)
    return None


def _is_context_code(value: Any) -> bool:
    return isinstance(value, str) and value in _CONTEXT_CODES


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
