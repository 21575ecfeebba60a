"""The OpenAI Batch API: upload a JSONL file (`purpose=batch`), create a batch, poll it, read its files.

Each line is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` with the body
the direct path would POST. One batch file holds one model and one endpoint (OpenAI's rule) and at
most 50,000 lines / 200 MB. A batch ends ``completed``, ``failed`` (its file did not validate:
every request fails with the reason; or ``token_limit_exceeded``: the organisation's queue of
enqueued tokens for the model is full, and the executor resubmits smaller), ``expired`` (not done within the 24 h window) or
``cancelled``. Results: successes in ``output_file_id``, failures in ``error_file_id`` (requests an
expired or cancelled batch never ran carry the codes ``batch_expired`` / ``batch_cancelled``).
"""

from __future__ import annotations

import hashlib
from typing import Any, Hashable, Iterator

from codeclm.engine.collect import DeferredRequest
from codeclm.engine.http import OPENAI_API_BASE
from codeclm.engine.keys import normalize_api_base
from codeclm.engine.retry import RetryPolicy
from codeclm.engine.score import SCORE_PATH
from codeclm.engine.wire import CHAT_PATH
from codeclm.executors.batch_provider import (BatchState, ProviderHTTP, RequestResult, UnbatchableRequest, jsonl,
                                              read_jsonl)

ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
_MISSING = {"expired": "expired", "cancelled": "canceled"}  # requests a batch ended before running
_CODES = {"batch_expired": "expired", "batch_cancelled": "canceled"}
QUEUE_FULL = "token_limit_exceeded"  # the batch failed: the organisation's enqueued tokens for the model hit its limit


class OpenAIBatches:
    """OpenAI's Batch API (or any server with its ``/files`` and ``/batches`` endpoints) at `base_url`."""

    name = "openai"
    max_requests = 50_000
    max_bytes = 190 * 2**20  # OpenAI's limit is 200 MB per input file

    def __init__(self, api_key: str, base_url: str | None = None, *, retry: RetryPolicy | None = None, client=None):
        base = (base_url or OPENAI_API_BASE).rstrip("/")
        self.ident = f"openai {normalize_api_base(base)}"
        self.http = ProviderHTTP("OpenAI", base, {"Authorization": f"Bearer {api_key}"}, api_key, retry, client)

    def group(self, request: DeferredRequest) -> Hashable:
        return request.model, request.path

    def prepare(self, request: DeferredRequest) -> dict[str, Any]:
        if request.path not in (CHAT_PATH, SCORE_PATH):
            raise UnbatchableRequest(f"{request.path} requests cannot go in an OpenAI batch")
        return {"custom_id": request.key, "method": "POST", "url": "/v1" + request.path, "body": request.body}

    def submit(self, lines: list[dict[str, Any]], *, label: str) -> BatchState:
        content = jsonl(lines)
        digest = hashlib.sha256(content).hexdigest()
        uploaded = self.http.post_multipart(
            "/files", data={"purpose": "batch"}, boundary=f"codeclm-{digest[:32]}",
            files={"file": (f"codeclm-{label}-{digest[:12]}.jsonl", content, "application/jsonl")})
        created = self.http.post_json("/batches", {
            "input_file_id": uploaded["id"], "endpoint": lines[0]["url"], "completion_window": "24h",
            "metadata": {"source": "codeclm", "stage": label},
        })
        return self._state(created)

    def poll(self, batch_id: str) -> BatchState:
        return self._state(self.http.get_json(f"/batches/{batch_id}"))

    def results(self, state: BatchState) -> Iterator[RequestResult]:
        for name in ("output_file_id", "error_file_id"):
            file_id = state.detail.get(name)
            if file_id:
                text = self.http.get_text(f"/files/{file_id}/content")
                for line in read_jsonl(text, f"OpenAI batch {state.id} {name} {file_id}"):
                    yield _result(line)

    def close(self) -> None:
        self.http.close()

    def _state(self, batch: dict[str, Any]) -> BatchState:
        status = str(batch.get("status") or "unknown")
        counts = batch.get("request_counts") or {}
        queue_full = status == "failed" and QUEUE_FULL in _error_codes(batch)
        detail = {k: batch.get(k) for k in ("output_file_id", "error_file_id") if batch.get(k)}
        return BatchState(
            id=str(batch["id"]), status=status, ended=status in ENDED,
            counts={k: counts[k] for k in ("completed", "failed", "total") if isinstance(counts.get(k), int)},
            detail={**detail, "queue_full": True} if queue_full else detail,
            error=_batch_errors(batch) if status == "failed" else None,
            missing=_MISSING.get(status, "errored"), queue_full=queue_full,
        )


def _error_codes(batch: dict[str, Any]) -> set[str]:
    return {str(e.get("code")) for e in (batch.get("errors") or {}).get("data") or [] if isinstance(e, dict)}


def _batch_errors(batch: dict[str, Any]) -> str:
    """Why a whole batch failed (its input file did not validate), from ``errors.data``."""
    errors = (batch.get("errors") or {}).get("data") or []
    texts = [f"{e.get('code') or 'error'}: {e.get('message') or ''}".strip() + (f" (line {e['line']})" if e.get("line") else "")
             for e in errors if isinstance(e, dict)]
    return "the batch failed: " + ("; ".join(texts) if texts else "no reason given")


def _result(line: dict[str, Any]) -> RequestResult:
    custom_id = str(line.get("custom_id"))
    error = line.get("error")
    response = line.get("response") or {}
    if isinstance(error, dict):
        code = error.get("code")
        return RequestResult(custom_id, _CODES.get(code, "errored"), error=str(error.get("message") or code), code=code)
    status = response.get("status_code")
    body = response.get("body")
    if status == 200 and isinstance(body, dict):
        return RequestResult(custom_id, "succeeded", reply=body)
    detail = body.get("error") if isinstance(body, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    return RequestResult(custom_id, "errored", error=f"HTTP {status}: {detail.get('message') or body or 'no reply'}",
                         code=detail.get("code") or detail.get("type"), status=status if isinstance(status, int) else None)
