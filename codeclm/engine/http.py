"""The direct path to OpenAI-compatible endpoints: one pooled ``httpx.Client`` per api_base.

llama.cpp, vLLM, TGI, Ollama and OpenAI itself all speak ``POST {api_base}/chat/completions``
and ``/completions``; this module sends those requests and returns the JSON reply (see
``reply.py``), raising ``HTTPStatusFailure`` for non-2xx replies and ``MalformedReplyError``
for a 200 that is not JSON. Retries, limits, cache and ledger stay in ``EngineLM``.

Why not litellm for these endpoints: its per-call CPU (model-info and cost lookups, callbacks,
pydantic response building) is several times httpx's, and the GIL serializes it across
threads. The ``openai`` client builds request options and validates the reply into pydantic
models we would convert back. The figures: docs/speed.md ("Small costs behind design choices").
httpx is already installed (litellm and openai depend on it), it pools connections and is
thread-safe, it streams (needed for cancellation, see ``stream.py``), and vcrpy records it,
so cassettes keep working. requests/urllib3 would cost about the same but add nothing.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from codeclm.engine.failures import HTTPStatusFailure, status_failure
from codeclm.engine.keys import normalize_api_base
from codeclm.engine.reply import Reply, parse_reply
from codeclm.engine.stream import ChatStream
from codeclm.errors import EndpointError, EndpointTimeoutError

OPENAI_API_BASE = "https://api.openai.com/v1"
_USER_AGENT = "codeclm-engine"


class RequestCancelled(EndpointError):
    """A streamed request closed on purpose by ``HTTPTransport.cancel_inflight()``."""


class HTTPTransport:
    """Thread-safe pooled client for one api_base; get the shared one with ``transport_for``."""

    def __init__(self, api_base: str, *, max_connections: int = 64):
        self.api_base = api_base.rstrip("/")
        self.client = httpx.Client(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": _USER_AGENT, "Content-Type": "application/json", "Accept": "application/json"},
        )
        self.stream_options_accepted = True
        self._generation = 0

    def post(self, path: str, body: dict[str, Any], *, api_key: str | None, timeout: float,
             headers: dict[str, str] | None = None) -> Reply:
        """POST ``body`` as JSON to ``api_base + path``; the parsed JSON reply."""
        response = self.client.post(self.api_base + path, content=_encode(body),
                                    headers=_headers(api_key, headers), timeout=timeout)
        if response.status_code >= 400:
            raise status_failure(response.status_code, response.content, response.headers)
        return parse_reply(response.content)

    def stream_chat(self, path: str, body: dict[str, Any], *, api_key: str | None, timeout: float,
                    headers: dict[str, str] | None = None) -> Reply:
        """POST with ``stream: true`` and assemble the chunks; the connection closes on any exit
        before the end (timeout, error, KeyboardInterrupt), which stops the server's work.

        ``timeout`` bounds the whole request: past it, EndpointTimeoutError (not retryable).
        """
        streamed = {**body, "stream": True}
        if self.stream_options_accepted:
            streamed["stream_options"] = {"include_usage": True}
        try:
            return self._stream(path, streamed, _headers(api_key, headers), timeout)
        except HTTPStatusFailure as failure:
            if "stream_options" not in streamed or not _rejects_stream_options(failure):
                raise
            self.stream_options_accepted = False
            del streamed["stream_options"]
            return self._stream(path, streamed, _headers(api_key, headers), timeout)

    def _stream(self, path: str, body: dict[str, Any], headers: dict[str, str], timeout: float) -> Reply:
        deadline = time.monotonic() + timeout
        generation = self._generation
        assembler = ChatStream()
        try:
            with self.client.stream("POST", self.api_base + path, content=_encode(body), headers=headers,
                                    timeout=timeout) as response:
                if response.status_code >= 400:
                    raise status_failure(response.status_code, response.read(), response.headers)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    return parse_reply(response.read())  # a server that ignores `stream` answers in one piece
                for line in response.iter_lines():
                    if time.monotonic() > deadline:
                        raise _timed_out(timeout)
                    if self._generation != generation:
                        raise RequestCancelled("the request was cancelled; its connection was closed")
                    assembler.feed(line)
        except (httpx.ReadTimeout, httpx.WriteTimeout):
            raise _timed_out(timeout) from None
        return assembler.reply()

    def cancel_inflight(self) -> None:
        """Close every stream in progress at its next chunk (e.g. from a Ctrl-C handler)."""
        self._generation += 1

    def close(self) -> None:
        """Close the pool; the next ``transport_for`` this api_base opens a new one."""
        with _registry_lock:
            if _registry.get(normalize_api_base(self.api_base)) is self:
                del _registry[normalize_api_base(self.api_base)]
        self.client.close()

    def __reduce__(self):  # copies and pickles resolve to the process's shared transport
        return transport_for, (self.api_base,)


def _timed_out(timeout: float) -> EndpointTimeoutError:
    return EndpointTimeoutError(f"the request timed out after {timeout:g} s and was cancelled "
                                "(its connection was closed, which stops the server's work); not retried")


def _rejects_stream_options(failure: HTTPStatusFailure) -> bool:
    return failure.status in (400, 422) and "stream_options" in failure.message


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _headers(api_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    headers = dict(extra or {})
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


_registry: dict[str, HTTPTransport] = {}
_registry_lock = threading.Lock()


def cancel_all_inflight() -> None:
    """Cancel the streamed requests of every endpoint at their next chunk.

    Ctrl-C reaches only the main thread; worker threads keep streaming, and a thread pool's
    shutdown waits for them. Call this when a run is interrupted, before joining the workers,
    so the servers stop computing abandoned answers."""
    with _registry_lock:
        transports = list(_registry.values())
    for transport in transports:
        transport.cancel_inflight()


def transport_for(api_base: str) -> HTTPTransport:
    """The one shared transport (connection pool) for ``api_base``."""
    key = normalize_api_base(api_base)
    with _registry_lock:
        transport = _registry.get(key)
        if transport is None:
            transport = _registry[key] = HTTPTransport(api_base)
        return transport
