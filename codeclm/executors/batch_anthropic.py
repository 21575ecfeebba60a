"""Anthropic Message Batches: one POST of ``{custom_id, params}`` requests, poll, read ``results_url``.

``params`` is a Messages API body made from the OpenAI-format chat body the engine collected:
system messages go to ``system``, ``max_tokens`` is required, ``stop`` becomes ``stop_sequences``;
a parameter with no Messages equivalent makes that request unbatchable (its item fails with the
reason) rather than being dropped silently, except ``seed``, which Anthropic does not offer.
A batch ends with ``processing_status: ended``; each result is ``succeeded`` (the Message, mapped
back to an OpenAI chat completion so DSPy reads it as any other reply), ``errored``,
``canceled`` or ``expired`` (not run within 24 h). At most 100,000 requests / 256 MB per batch.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterator

from codeclm.engine.collect import DeferredRequest
from codeclm.engine.keys import normalize_api_base
from codeclm.engine.retry import RetryPolicy
from codeclm.engine.wire import CHAT_PATH
from codeclm.executors.batch_provider import BatchState, ProviderHTTP, RequestResult, UnbatchableRequest, read_jsonl

ANTHROPIC_API_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "refusal": "content_filter", "pause_turn": "stop"}
_SAMPLING = ("temperature", "top_p")
_KNOWN = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "stop", "seed", "n", *_SAMPLING})


class AnthropicBatches:
    """Anthropic's Message Batches API at `base_url` (default api.anthropic.com)."""

    name = "anthropic"
    max_requests = 100_000
    max_bytes = 240 * 2**20  # Anthropic's limit is 256 MB per batch

    def __init__(self, api_key: str, base_url: str | None = None, *, retry: RetryPolicy | None = None, client=None):
        base = (base_url or ANTHROPIC_API_BASE).rstrip("/").removesuffix("/v1/messages").removesuffix("/v1")
        self.ident = f"anthropic {normalize_api_base(base)}"
        headers = {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}
        self.http = ProviderHTTP("Anthropic", base, headers, api_key, retry, client)

    def group(self, request: DeferredRequest) -> Hashable:
        return "messages"  # one batch may mix models

    def prepare(self, request: DeferredRequest) -> dict[str, Any]:
        if request.path != CHAT_PATH:
            raise UnbatchableRequest(f"{request.path} requests cannot go in an Anthropic batch (chat only)")
        return {"custom_id": request.key, "params": messages_params(request.body)}

    def submit(self, lines: list[dict[str, Any]], *, label: str) -> BatchState:
        return self._state(self.http.post_json("/v1/messages/batches", {"requests": lines}))

    def poll(self, batch_id: str) -> BatchState:
        return self._state(self.http.get_json(f"/v1/messages/batches/{batch_id}"))

    def results(self, state: BatchState) -> Iterator[RequestResult]:
        url = state.detail.get("results_url") or f"/v1/messages/batches/{state.id}/results"
        for line in read_jsonl(self.http.get_text(url), f"Anthropic batch {state.id} results"):
            yield _result(line)

    def close(self) -> None:
        self.http.close()

    def _state(self, batch: dict[str, Any]) -> BatchState:
        status = str(batch.get("processing_status") or "unknown")
        counts = batch.get("request_counts") or {}
        return BatchState(id=str(batch["id"]), status=status, ended=status == "ended",
                          counts={k: v for k, v in counts.items() if isinstance(v, int)},
                          detail={"results_url": batch["results_url"]} if batch.get("results_url") else {})


def messages_params(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages API request body from an OpenAI chat body; UnbatchableRequest naming what does not map."""
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise UnbatchableRequest(f"parameter {unknown[0]} has no Anthropic Messages equivalent")
    if body.get("n", 1) != 1:
        raise UnbatchableRequest("n > 1: an Anthropic message has one answer")
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if not max_tokens:
        raise UnbatchableRequest("Anthropic requires max_tokens; set the step's max_tokens or models.<role>.max_tokens")
    system, messages = [], []
    for message in body.get("messages") or []:
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            system.append(_text(content))
        elif role in ("user", "assistant"):
            messages.append({"role": role, "content": content if isinstance(content, str) else _blocks(content)})
        else:
            raise UnbatchableRequest(f"a {role} message has no Anthropic Messages equivalent")
    model = str(body.get("model") or "")
    params: dict[str, Any] = {"model": model.removeprefix("anthropic/"), "max_tokens": int(max_tokens), "messages": messages}
    if system:
        params["system"] = "\n\n".join(system)
    for name in _SAMPLING:
        if body.get(name) is not None:
            params[name] = body[name]
    if params.get("temperature", 0) > 1:
        raise UnbatchableRequest(f"temperature {params['temperature']} is above Anthropic's maximum of 1")
    stop = body.get("stop")
    if stop:
        params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    return params


def chat_completion(message: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Message as an OpenAI chat completion: text, finish_reason from stop_reason, usage."""
    text = "".join(block.get("text", "") for block in message.get("content") or [] if block.get("type") == "text")
    usage = message.get("usage") or {}
    prompt = sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    completion = int(usage.get("output_tokens") or 0)
    reason = message.get("stop_reason")
    return {
        "id": message.get("id"), "object": "chat.completion", "model": message.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": FINISH_REASONS.get(reason, "stop")}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": int(usage.get("cache_read_input_tokens") or 0)}},
    }


def _text(content: Any) -> str:
    return content if isinstance(content, str) else "\n".join(b.get("text", "") for b in _blocks(content))


def _blocks(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list) or any(not isinstance(p, dict) or p.get("type") != "text" for p in content):
        raise UnbatchableRequest("only text message content can go in an Anthropic batch")
    return [{"type": "text", "text": str(p.get("text", ""))} for p in content]


def _result(line: dict[str, Any]) -> RequestResult:
    custom_id = str(line.get("custom_id"))
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return RequestResult(custom_id, "succeeded", reply=chat_completion(result["message"]))
    if kind in ("canceled", "expired"):
        return RequestResult(custom_id, kind, error=f"the request was {kind} before it ran")
    error = result.get("error") or {}
    detail = error.get("error") if isinstance(error.get("error"), dict) else error  # {"type": "error", "error": {...}}
    return RequestResult(custom_id, "errored", error=f"{detail.get('type') or 'error'}: {detail.get('message') or kind}",
                         code=detail.get("type"))
