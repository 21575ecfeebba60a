"""What a provider batch API gives the batch executor (submit, poll, read results), and the HTTP both share.

Two providers implement `BatchProvider`: `batch_openai.OpenAIBatches` (OpenAI Batch API) and
`batch_anthropic.AnthropicBatches` (Anthropic Message Batches). Each request's ``custom_id`` is
its call-cache key (64 hex characters: within both providers' limits), so results map back to
calls without a lookup table, and a restarted run asks for the same ids.

Plain httpx rather than the ``openai`` / ``anthropic`` SDKs: the SDKs' batch helpers are thin
wrappers over the same four endpoints; the ``anthropic`` package is not installed (one more
dependency for five requests); the SDKs retry on their own (a retried batch *create* after a
timeout can start a second, paid batch), and they validate replies into pydantic models we
would turn back into dicts. httpx is already installed and vcrpy records it, so the request
shapes are tested from cassettes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Iterator, Literal, Protocol

import httpx

from codeclm.engine.collect import DeferredRequest
from codeclm.engine.failures import HTTPStatusFailure, connection_failure, status_failure
from codeclm.engine.keys import redact_url, scrub
from codeclm.engine.retry import RetryPolicy
from codeclm.errors import EndpointError

ResultKind = Literal["succeeded", "errored", "expired", "canceled"]


class UnbatchableRequest(Exception):
    """A request this provider's batch API cannot carry (e.g. a parameter it has no equivalent for)."""


class BatchAPIError(EndpointError):
    """A provider batch API call (upload, create, poll, download) failed after its retries."""


@dataclass(frozen=True)
class BatchState:
    """A submitted batch as the provider last reported it.

    `status` is the provider's own word; `ended`: no request will change any more, results can be
    read; `detail`: what reading the results needs (file ids, results URL), kept for a restart;
    `error`: the whole batch failed (every request fails with it); `missing`: what a request
    with no result line became (OpenAI writes none for requests an expired batch never ran);
    `queue_full`: the batch failed only because the organisation's queue of enqueued tokens was
    full (OpenAI ``token_limit_exceeded``): its requests wait and go again in smaller batches.
    """

    id: str
    status: str
    ended: bool
    counts: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    missing: ResultKind = "errored"
    queue_full: bool = False

    def describe(self, provider: str) -> str:
        counts = " ".join(f"{k} {v}" for k, v in self.counts.items() if isinstance(v, int))
        return f"{provider} batch {self.id} {self.status}" + (f" ({counts})" if counts else "")


@dataclass(frozen=True)
class RequestResult:
    """One request's result: an OpenAI-shaped `reply`, or `error` (with the provider's `code` or `status`)."""

    custom_id: str
    kind: ResultKind
    reply: dict[str, Any] | None = None
    error: str | None = None
    code: str | None = None
    status: int | None = None


class BatchProvider(Protocol):
    """A provider batch API as the executor uses it."""

    name: str  # "openai" / "anthropic"
    ident: str  # name and endpoint: which stored batches this provider can poll after a restart
    max_requests: int
    max_bytes: int

    def group(self, request: DeferredRequest) -> Hashable:
        """Requests with the same group may share a batch (OpenAI: one model and endpoint per batch file)."""

    def prepare(self, request: DeferredRequest) -> dict[str, Any]:
        """The batch line for `request`; UnbatchableRequest with the reason when it cannot be batched."""

    def submit(self, lines: list[dict[str, Any]], *, label: str) -> BatchState:
        """Create one batch of `lines` (`label`: the stage, for the provider's dashboard)."""

    def poll(self, batch_id: str) -> BatchState:
        ...

    def results(self, state: BatchState) -> Iterator[RequestResult]:
        """Every result line of an ended batch."""

    def close(self) -> None:
        ...


def jsonl(lines: Iterable[dict[str, Any]]) -> bytes:
    """JSON Lines, compact, UTF-8."""
    return "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines).encode("utf-8")


def read_jsonl(text: str, source: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL text; BatchAPIError naming `source` and the line for a bad one."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise BatchAPIError(f"{source}: line {number} is not JSON (starts {line[:60]!r})") from None
        if isinstance(data, dict):
            yield data


class ProviderHTTP:
    """One provider endpoint over httpx: JSON in and out, errors named without the key.

    GETs are retried like chat calls (429, 5xx, timeouts, dropped connections). POSTs are retried
    only when the provider cannot have acted on them (429, refused connection): a create retried
    after a timeout could start a second batch that is paid for twice.
    """

    def __init__(self, provider: str, base_url: str, headers: dict[str, str], secret: str,
                 retry: RetryPolicy | None = None, client: httpx.Client | None = None):
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.retry = retry or RetryPolicy(max_tries=5, base_delay=2.0, timeout=300.0)
        self.client = client or httpx.Client()
        self.client.headers.update({"User-Agent": "codeclm-batch", **headers})

    def url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith(("http://", "https://")) else self.base_url + path_or_url

    def get_json(self, path_or_url: str) -> dict[str, Any]:
        return self._json(self._send("GET", path_or_url, idempotent=True), path_or_url)

    def get_text(self, path_or_url: str) -> str:
        return self._send("GET", path_or_url, idempotent=True).text

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = self._send("POST", path, idempotent=False, content=content, headers={"Content-Type": "application/json"})
        return self._json(response, path)

    def post_multipart(self, path: str, *, data: dict[str, str], files: dict[str, tuple[str, bytes, str]],
                       boundary: str) -> dict[str, Any]:
        """A multipart form; a fixed `boundary` keeps the request body reproducible (cassettes match on it)."""
        response = self._send("POST", path, idempotent=False, data=data, files=files,
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return self._json(response, path)

    def close(self) -> None:
        self.client.close()

    def _send(self, method: str, path_or_url: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        url = self.url(path_or_url)

        def attempt() -> httpx.Response:
            try:
                response = self.client.request(method, url, timeout=self.retry.timeout, **kwargs)
            except httpx.HTTPError as exc:
                if idempotent or connection_failure(exc) == "refused":
                    raise
                raise self._error(method, url, exc) from None
            if response.status_code >= 400:
                failure = status_failure(response.status_code, response.content, response.headers)
                if idempotent or failure.status == 429:
                    raise failure
                raise self._error(method, url, failure)
            return response

        try:
            return self.retry.call(attempt)
        except BatchAPIError:
            raise
        except (httpx.HTTPError, HTTPStatusFailure) as exc:
            raise self._error(method, url, exc) from None

    def _json(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise BatchAPIError(f"{self.provider} batch API: {path}: the reply is not a JSON object")
        return data

    def _error(self, method: str, url: str, exc: BaseException) -> BatchAPIError:
        reason = str(exc) if isinstance(exc, HTTPStatusFailure) else f"{type(exc).__name__}: {exc}"
        text = scrub(f"{self.provider} batch API: {method} {redact_url(url)} failed: {reason}", [self.secret])
        return BatchAPIError(" ".join(text.split())[:500] + "; rerun the same command to resume (submitted batches are kept)")

