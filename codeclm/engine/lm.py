"""EngineLM: the one dspy.LM subclass every role (strong, target, judge) calls through.

Each call: cache lookup (key without the API key) -> per-endpoint limiter -> the request,
with our own retries -> cache store and usage ledger. OpenAI-compatible models take the
direct httpx path (``http.py``), other providers go through litellm (``routes.py`` decides,
or the role's spec did: ``transport``). Both paths share cache keys,
limits, retries, the ledger, key scrubbing and the error names of ``codeclm.errors``.
DSPy's cache (which ignores api_base) and DSPy's retries (which hide calls from the
ledger) are both off; ``engine="litellm"`` keeps litellm's HTTP on httpx, which vcrpy records.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from contextlib import nullcontext
from typing import Any, Callable

import dspy

from codeclm.engine.cache import CallCache
from codeclm.engine.caps import SpendGuard
from codeclm.engine.collect import DeferredRequest, defer_if_collecting, first_sight
from codeclm.engine.deferred import lookup, save
from codeclm.engine.failures import HTTPStatusFailure, chain, connection_failure, context_overflow, is_malformed
from codeclm.engine.http import OPENAI_API_BASE, HTTPTransport, transport_for
from codeclm.engine.keys import cache_key, redact_url, scrub
from codeclm.engine.ledger import UsageLedger
from codeclm.engine.limits import EndpointLimiter
from codeclm.engine.reply import as_reply, check_chat, from_cache, server_timings, to_dict, usage_counts
from codeclm.engine.retry import RetryPolicy, is_retryable, status_of
from codeclm.engine.score import (SCORE_FIX, SCORE_MARKER, SCORE_PATH, ScoredText, prompt_logprobs, score_body, scored_text,
                                  unsupported, unsupported_fix)
from codeclm.engine.routes import route
from codeclm.engine.wire import CHAT_PATH, chat_body, wire_model
from codeclm.errors import (ContextLengthError, EndpointConnectionError, EndpointError, MalformedReplyError,
                            PromptScoringUnsupportedError)

logger = logging.getLogger(__name__)


def silence_legacy_forward_warning() -> None:
    """Ignore DSPy 3.4's per-call warning for LMs that override forward(), matched by its text.

    Overriding forward() is this module's design; other DeprecationWarnings still show.
    Test runners that reset filters (pytest) need the same entry in their own config.
    """
    warnings.filterwarnings("ignore", message=r"Implementing custom LMs through BaseLM\.forward\(\)",
                            category=DeprecationWarning)
    # Our cache keys on rollout_id at every temperature (item identity); DSPy's warning is about its own cache.
    warnings.filterwarnings("ignore", message=r"rollout_id has no effect when temperature=0", category=UserWarning)


silence_legacy_forward_warning()

_FIXED = ("engine", "cache", "num_retries")
TRANSPORTS = ("auto", "direct", "litellm")
_CONNECTION_TEXT = {"refused": "connection refused (nothing accepted the connection)",
                    "unreachable": "could not connect",
                    "dropped": "connection dropped before a complete reply"}


class EngineLM(dspy.LM):
    """A dspy.LM with a persistent cache, endpoint limits, retries and a usage ledger."""

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None,
                 role: str = "default", cache: CallCache | None = None, limiter: EndpointLimiter | None = None,
                 retry: RetryPolicy | None = None, ledger: UsageLedger | None = None,
                 endpoint_id: str | None = None, transport: str = "auto", stream_for_cancel: bool = False,
                 guard: SpendGuard | None = None, **lm_kwargs: Any):
        """`endpoint_id` names the endpoint in cache keys when `api_base` is not stable
        (an embedded server listens on a new port each start); default: `api_base`.

        `transport`: "auto" (`codeclm.engine.routes.route(model)` decides: direct for
        OpenAI-compatible model ids, litellm otherwise), "direct" or "litellm" (a role's
        spec decided: `ModelSpec.route`). `stream_for_cancel`: on the direct path, stream each chat
        request so that a timeout or Ctrl-C closes the connection and the server stops
        computing (llama-cpp-python only cancels streamed requests); a timeout is then
        not retried. Set it for embedded local models; an interrupted run should call
        ``codeclm.engine.http.cancel_all_inflight()`` before joining its worker threads.
        `guard`: the run's spending caps, checked before each paid call (codeclm.engine.caps).
        """
        fixed = sorted(set(lm_kwargs) & set(_FIXED))
        if fixed:
            raise TypeError(f"EngineLM sets {fixed} itself; drop them from the arguments")
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        self.retry = retry or RetryPolicy()
        lm_kwargs.setdefault("timeout", self.retry.timeout)
        super().__init__(model, api_base=api_base, api_key=api_key, engine="litellm", cache=False,
                         num_retries=0, **lm_kwargs)
        self.role = role
        self.api_base = api_base
        self.endpoint_id = endpoint_id or api_base
        self.call_cache = cache
        self.limiter = limiter
        self.ledger = ledger
        self.transport = transport
        self.stream_for_cancel = stream_for_cancel
        self.guard = guard

    @property
    def endpoint(self) -> str:
        """The endpoint as shown in messages: no credentials, no query string."""
        return redact_url(self.api_base)

    @property
    def direct(self) -> bool:
        """Whether calls take the direct httpx path (else litellm)."""
        if self.transport == "auto":
            return self.model_type == "chat" and route(self.model).direct
        return self.transport == "direct"

    @property
    def http(self) -> HTTPTransport:
        """The shared connection pool of this LM's endpoint (direct path)."""
        base = (self.api_base or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
                or OPENAI_API_BASE)
        found = self.__dict__.get("_http")
        if found is None or found[0] != base or found[1].client.is_closed:
            found = self.__dict__["_http"] = (base, transport_for(base))
        return found[1]

    # -- chat ---------------------------------------------------------------------------
    def forward(self, prompt=None, messages=None, **kwargs):
        """One chat completion: a Reply (dict with attribute access; ``cache_hit`` set on hits),
        or litellm's ModelResponse when a litellm call answered."""
        use_cache = kwargs.pop("cache", True) is not False and self.call_cache is not None
        params = {**self.kwargs, **kwargs}
        rendered = messages if messages is not None else [{"role": "user", "content": prompt}]
        key = cache_key(api_base=self.endpoint_id, model=self.model, messages=rendered, params=params)
        answered = None
        if use_cache:
            stored = self._cached(key)
            if stored is not None:
                return from_cache(stored)
            answered = defer_if_collecting(lambda: self._deferred(key, CHAT_PATH, chat_body(self.model, rendered, params)))
        kwargs.pop("rollout_id", None)  # in the key, never on the wire
        if answered is not None:  # a batch answered this call (counted in the ledger when the batch was read)
            response = as_reply(answered)
        elif self.direct:
            body = chat_body(self.model, rendered, params)
            response = self._call(lambda: self._chat_direct(body, params), _estimate_tokens(rendered, params))
        else:
            response = self._call(lambda: self._chat_litellm(prompt, messages, kwargs),
                                  _estimate_tokens(rendered, params))
        if use_cache:
            save(self.call_cache, key, to_dict(response), {**self._meta(), **({"source": "batch"} if answered else {})})
        return response

    def _process_completion(self, response, merged_kwargs):
        return with_finish_reasons(response, super()._process_completion(response, merged_kwargs))

    async def aforward(self, prompt=None, messages=None, **kwargs):
        """Async calls take the same path (cache, limits, retries) in a worker thread."""
        import asyncio

        return await asyncio.to_thread(self.forward, prompt, messages, **kwargs)

    def _chat_direct(self, body: dict[str, Any], params: dict[str, Any]):
        send = self.http.stream_chat if self.stream_for_cancel else self.http.post
        reply = send(CHAT_PATH, body, **self._connection(params))
        check_chat(reply)
        return reply

    def _chat_litellm(self, prompt, messages, kwargs):
        # A provider that does not take a parameter (Anthropic and `seed`) has it dropped, not the call refused.
        response = super().forward(prompt=prompt, messages=messages, drop_params=True, **kwargs)
        check_chat(response)
        return response

    # -- prompt scoring -----------------------------------------------------------------
    def score(self, text: str) -> ScoredText:
        """The model's log-probability of every token of ``text`` (POST /completions, echo).

        Cached, limited, retried and counted like chat calls. PromptScoringUnsupportedError
        when the endpoint cannot return prompt log-probabilities.
        """
        if not self.direct:
            raise PromptScoringUnsupportedError(
                f"{self.role} model {self.model} at {self.endpoint} cannot score prompts: it is reached "
                f"through litellm, which returns no prompt log-probabilities; {SCORE_FIX}")
        key = cache_key(api_base=self.endpoint_id, model=self.model, messages=text, params=SCORE_MARKER)
        body = score_body(wire_model(self.model), text)
        answered = None
        if self.call_cache is not None:
            stored = self._cached(key)
            if stored is not None:
                return self._scored(stored, text, cache_hit=True)
            answered = defer_if_collecting(lambda: self._deferred(key, SCORE_PATH, body))
        reply = as_reply(answered) if answered is not None else self._call(lambda: self._score_direct(body, text),
                                                                              len(text) / 4 + 1)
        scored = self._scored(reply, text)  # a batch reply is checked here, before it is stored
        if self.call_cache is not None:
            save(self.call_cache, key, to_dict(reply), self._meta())
        return scored

    def _scored(self, reply: Any, text: str, *, cache_hit: bool = False) -> ScoredText:
        """``scored_text``, its refusal naming this endpoint and the fix."""
        try:
            return scored_text(reply, text, cache_hit=cache_hit)
        except PromptScoringUnsupportedError as exc:
            raise self._endpoint_error(exc, 1) from None

    def _score_direct(self, body: dict[str, Any], text: str):
        try:
            reply = self.http.post(SCORE_PATH, body, **self._connection(self.kwargs))
        except HTTPStatusFailure as failure:
            if context_overflow(failure) is None and unsupported(failure):
                raise PromptScoringUnsupportedError(str(failure)) from None
            raise
        scored_text(reply, text)  # no prompt logprobs: unsupported, raised before anything is cached
        return reply

    # -- cache, batches, cancellation -----------------------------------------------------
    def store(self, key: str, response: dict[str, Any]) -> None:
        """Write a reply obtained elsewhere (a batch result) under ``key``, at once: the same
        call then replays it as a cache hit. MalformedReplyError for an unusable reply."""
        if self.call_cache is None:
            raise ValueError(f"{self.role} model {self.model} has no call cache to store a reply in")
        try:
            check_chat(response)
        except MalformedReplyError:
            try:
                prompt_logprobs(response)  # a scoring reply is storable too (its tokens are checked when read)
            except PromptScoringUnsupportedError:
                raise MalformedReplyError("not a chat completion nor a prompt-scoring reply; nothing stored") from None
        self.call_cache.put(key, to_dict(response), {**self._meta(), "source": "store"})

    def cancel_inflight(self) -> None:
        """Close this endpoint's streamed requests at their next chunk (``stream_for_cancel``)."""
        if self.direct:
            self.http.cancel_inflight()

    def _cached(self, key: str) -> dict[str, Any] | None:
        stored = lookup(self.call_cache, key)
        if stored is not None and self.ledger is not None and first_sight(key):
            self.ledger.record_cache_hit(self.role, model=self.model)
        return stored

    def _deferred(self, key: str, path: str, body: dict[str, Any]) -> DeferredRequest:
        return DeferredRequest(key=key, endpoint=self.endpoint, model=self.model, path=path, body=body, role=self.role)

    def _meta(self) -> dict[str, Any]:
        return {"role": self.role, "model": self.model, "endpoint": self.endpoint}

    def _connection(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"api_key": params.get("api_key") or os.environ.get("OPENAI_API_KEY"),
                "timeout": params.get("timeout") or self.retry.timeout,
                "headers": params.get("extra_headers") or params.get("headers")}

    # -- one call: limiter, retries, ledger, errors ---------------------------------------
    def _call(self, send: Callable[[], Any], estimate: float):
        held = self.guard.reserve(self.role, estimate) if self.guard is not None else None  # BudgetReached: no call
        start = time.monotonic()
        tries = 0

        def attempt():
            nonlocal tries
            tries += 1
            with self.limiter.acquire(estimate) if self.limiter is not None else nullcontext():
                try:
                    return send()
                except Exception as exc:
                    overflow = context_overflow(exc)
                    if overflow is None:
                        raise
                    raise self._context_error(*overflow) from None

        try:
            response = self.retry.call(attempt, on_retry=self._on_retry)
        except BaseException as exc:
            if held is not None:
                self.guard.release(held)
            if not isinstance(exc, Exception):
                raise
            if not isinstance(exc, ContextLengthError) and not _is_endpoint_failure(exc):
                raise
            if self.ledger is not None:
                self.ledger.record_failure(self.role, seconds=time.monotonic() - start, model=self.model)
            if isinstance(exc, ContextLengthError):
                raise
            raise self._endpoint_error(exc, tries) from None  # the cause chain may carry request headers
        prompt_tokens, completion_tokens, cached_tokens = usage_counts(response)
        if held is not None:
            self.guard.settle(held, prompt_tokens, completion_tokens)
        if self.ledger is not None:
            self.ledger.record_call(self.role, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                    cached_prompt_tokens=cached_tokens, seconds=time.monotonic() - start,
                                    model=self.model, timings=server_timings(response))
        if self.limiter is not None and (prompt_tokens or completion_tokens):
            self.limiter.settle(estimate, prompt_tokens + completion_tokens)
        return response

    def _on_retry(self, exc: BaseException, sleep: float, attempt: int) -> None:
        if self.ledger is not None:
            self.ledger.record_retry(self.role, model=self.model)
        logger.warning("%s: %s at %s: try %d/%d failed (%s); retrying in %.2fs", self.role, self.model,
                       self.endpoint, attempt, self.retry.max_tries, self._reason(exc), sleep)

    def _context_error(self, tokens: int | None, limit: int | None) -> ContextLengthError:
        if tokens and limit:
            size = f"the request needs {tokens} tokens but the context window holds {limit}"
        elif limit:
            size = f"the request does not fit the context window of {limit} tokens"
        else:
            size = "the request does not fit the model's context window"
        error = ContextLengthError(f"{self.role} model {self.model} at {self.endpoint}: {size}; this item is "
                                   "dropped (shorten its input or max_tokens, or use a model with a longer context)",
                                   tokens=tokens, limit=limit)
        error.role, error.model, error.endpoint = self.role, self.model, self.endpoint
        return error

    def _endpoint_error(self, exc: BaseException, tries: int) -> EndpointError:
        kind = connection_failure(exc)
        if isinstance(exc, PromptScoringUnsupportedError):
            reason = self._reason(exc)
            error = PromptScoringUnsupportedError(f"{self.role} model {self.model} at {self.endpoint} cannot score "
                                                  f"prompts ({reason}): {unsupported_fix(reason)}")
        else:
            cls = (type(exc) if isinstance(exc, EndpointError) else EndpointConnectionError if kind
                   else MalformedReplyError if is_malformed(exc) else EndpointError)
            error = cls(self._describe(exc, tries))
        error.role, error.model, error.endpoint = self.role, self.model, self.endpoint
        error.status = None if kind or is_malformed(exc) else status_of(exc)
        error.tries, error.retryable = tries, is_retryable(exc)
        return error

    def _reason(self, exc: BaseException) -> str:
        kind = connection_failure(exc)
        status = status_of(exc)
        if kind:
            text = _CONNECTION_TEXT[kind] + ("" if kind == "refused" else f": {_first_line(exc)}")
        elif is_malformed(exc):
            cause = next((e for e in chain(exc) if isinstance(e, MalformedReplyError)), None)
            text = f"malformed reply: {_first_line(cause) if cause else 'the reply is not JSON'}"
        elif isinstance(exc, (HTTPStatusFailure, EndpointError)):
            text = _first_line(exc)
        elif any("Timeout" in type(err).__name__ for err in chain(exc)):
            text = f"no reply within {self.kwargs.get('timeout') or self.retry.timeout:g} s (timeout)"
        else:
            text = f"{type(exc).__name__}{f' HTTP {status}' if status else ''}: {_first_line(exc)}"
        return scrub(text, [self.kwargs.get("api_key")])

    def _describe(self, exc: BaseException, tries: int) -> str:
        return (f"{self.role} model {self.model} at {self.endpoint} failed after {tries} "
                f"{'try' if tries == 1 else 'tries'}: {self._reason(exc)}")


def with_finish_reasons(response, outputs: list) -> list[dict[str, Any]]:
    """DSPy's outputs, each with the reply's finish_reason and completion tokens (a cache hit keeps
    the tokens the answer cost when it was made), so steps can guard against cut-off answers."""
    from dspy.clients.legacy_outputs import value

    usage = getattr(response, "cached_usage", None) or value(response, "usage")
    tokens = value(usage, "completion_tokens") if usage is not None else None
    choices = value(response, "choices", []) or []
    return [
        {**(out if isinstance(out, dict) else {"text": out}), "finish_reason": value(c, "finish_reason"), "completion_tokens": tokens}
        for out, c in zip(outputs, choices)
    ]


def _first_line(exc: BaseException) -> str:
    line = next((line.strip() for line in str(exc).splitlines() if line.strip()), "") or type(exc).__name__
    return line[:300]


def _is_endpoint_failure(exc: BaseException) -> bool:
    from dspy.utils.exceptions import LMError

    return (isinstance(exc, (LMError, EndpointError)) or is_retryable(exc) or status_of(exc) is not None
            or connection_failure(exc) is not None)


def _estimate_tokens(messages: Any, params: dict[str, Any]) -> float:
    chars = sum(len(str(m.get("content", ""))) if isinstance(m, dict) else len(str(m)) for m in messages or [])
    return chars / 4 + (params.get("max_tokens") or params.get("max_completion_tokens") or 0)
