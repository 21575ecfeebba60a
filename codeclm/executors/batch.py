"""The batch executor: a stage's LLM calls go to provider batch APIs (OpenAI Batch API, Anthropic
Message Batches) at their batch price, in rounds.

A round runs every unfinished item on local threads under ``collect_requests()``: cached calls
answer at once, and an item's first call that is not cached stops it with ``DeferredCall``
(pending, not failed). Items that finish are reported through ``on_outcome`` as they finish,
like the thread executor. The round's requests go out as one batch per provider (and, for
OpenAI, per model), are polled until they end, and their results are kept in the batch store
(`batch_store.py`, in the call-cache file). The next round replays the pending items: the batch
replies answer their calls (through the engine's collector hook, so a reply the step rejects is
never cached), and an item with several calls in sequence (improve -> strong answer -> target
answer -> judge) stops at its next one. Rounds repeat until every item has finished.

Failures are never silent. What a request that errored becomes is read from one table
(``batch_errors.py``: every documented per-request error of both providers): one that may pass
(expired, cancelled, 429, 5xx, overloaded, timed out) is submitted once more in a new batch
(logged), and if that fails too its item fails with the reason; one that would fail again (an
over-long prompt, a refused prompt) drops its item for good, with the reason, as on the direct
path; one that every request would hit (a used-up quota, a bad key, an unknown model) stops the
run at once with the fix, finished work kept; any other makes its item fail with the provider's
error (a later run retries it). A whole batch that failed (e.g. OpenAI rejected its file) fails
all its requests, except when OpenAI's queue of enqueued tokens was full
(``token_limit_exceeded``): then its requests wait (``queue_wait`` seconds) and go again in
batches half its size, and a later run too starts from half the size that failed (never the same
failing batch); a single request that still does not fit, or a queue that stays full
``queue_tries`` times, fails its items with the reason. Calls of models without a batch API (e.g.
a local target) are made directly in the round. A restarted run finds the batches it had
submitted and polls them instead of submitting the same requests again.

Each round waits for a batch (minutes to 24 hours), and an item needs one round per call in its
chain: batching trades wall time for price.
"""

from __future__ import annotations

import copy
import logging
import time
from contextlib import nullcontext
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from typing import Any, Callable, Mapping, Sequence, TypeVar

from codeclm.engine.collect import DeferredCall, DeferredRequest, collect_requests
from codeclm.engine.failures import HTTPStatusFailure, context_overflow
from codeclm.engine.ledger import UsageLedger
from codeclm.engine.reply import check_chat, usage_counts
from codeclm.engine.wire import CHAT_PATH
from codeclm.errors import ContextLengthError, EndpointError, MalformedReplyError, RequestDroppedError, StepError
from codeclm.executors.base import EndpointWatch, OnOutcome, Outcome, Progress, ReportsOutcomes
from codeclm.executors.batch_errors import classify
from codeclm.executors.batch_provider import BatchProvider, BatchState, RequestResult, UnbatchableRequest, jsonl
from codeclm.executors.batch_store import BatchStore, StoredRequest

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")



class BatchRequestError(EndpointError):
    """A request that failed in (or could not go into) a provider batch; its item fails with this reason."""


class BatchFatalError(EndpointError):
    """A batch result every request would share (a used-up quota, a bad key, an unknown model): the run stops."""


class BatchExecutor:
    """Maps a stage over its items in rounds; LLM calls of roles in `providers` wait for provider batches.

    `providers`: role -> the batch API its calls go to (other roles call their endpoint directly);
    `store`: submitted batches (resume); `ledger`: batch calls are counted when their batch is read,
    at batch prices; `poll_seconds`: wait between polls; `abort_after`: as the thread executor, this
    many items in a row failing on their endpoint (e.g. every request of a failed batch) stop the run;
    `queue_wait`: seconds to wait after a batch failed on a full queue before resubmitting smaller;
    `queue_tries`: how many such failures a request may meet before its item fails.
    """

    def __init__(self, providers: Mapping[str, BatchProvider], store: BatchStore, *, ledger: UsageLedger | None = None,
                 concurrency: int = 4, poll_seconds: float = 30.0, abort_after: int = 8, progress: Progress | None = None,
                 sleep: Callable[[float], None] = time.sleep, queue_wait: float = 600.0, queue_tries: int = 6):
        self.providers = dict(providers)
        self.store = store
        self.ledger = ledger
        self.concurrency = max(1, concurrency)
        self.poll_seconds = poll_seconds
        self.abort_after = abort_after
        self.progress = progress or Progress()
        self.sleep = sleep
        self._by_ident = {p.ident: p for p in self.providers.values()}
        self._failed: dict[str, BaseException] = {}  # cache key -> the failure its call raises (this process)
        self._sent_again: set[str] = set()  # keys already submitted a second time after expiring or a transient error
        self.queue_wait = queue_wait
        self.queue_tries = queue_tries
        self._queue_full: dict[str, int] = {}  # key -> batches it was in that failed on a full queue (this process)
        self._queue_cap: dict[tuple[str, str], int] = {}  # (provider, model) -> most requests per batch after one
        self._wait_for_queue = False

    # -- the stage ------------------------------------------------------------------------
    def map(self, stage: str, fn: Callable[[T], R], items: Sequence[T], on_outcome: OnOutcome | None = None) -> list[Outcome[T, R]]:
        items = list(items)
        self.progress.start(stage, len(items))
        reporter = _Reporter(stage, on_outcome, self.progress, min(self.abort_after, max(1, len(items))))
        todo, used, seen = list(range(len(items))), set(), set()
        threads = min(self.concurrency, len(items))
        with ThreadPoolExecutor(threads, thread_name_prefix=f"codeclm-{stage}") if threads > 1 else nullcontext() as pool:
            while todo:
                with collect_requests(defer=self._defers, answer=self._answer, seen=seen):
                    deferred = self._round(pool, fn, items, todo, reporter)
                todo = sorted(deferred)
                if todo:
                    used |= self._send_and_wait(stage, todo, deferred)
        self.store.consume(used)
        self.progress.status(stage, "")
        return [reporter.results[i] for i in range(len(items))]

    def _send_and_wait(self, stage: str, todo: list[int], deferred: dict[int, DeferredRequest]) -> set[tuple[str, str]]:
        """Send what the round's pending items wait on and wait for it; the batches waited on."""
        requests = list({r.key: r for _, r in sorted(deferred.items())}.values())  # in item order: reproducible files
        failed_before = len(self._failed)
        waiting = self._dispatch(stage, requests)
        if not waiting and len(self._failed) == failed_before:  # a bug, never a silent endless loop
            raise RuntimeError(f"{stage}: {len(todo)} items wait on requests that no batch can answer "
                               f"({', '.join(r.key[:12] for r in requests[:3])}...)")
        self._wait(stage, waiting)
        if self._wait_for_queue:  # a batch failed on a full queue: let running batches drain before resubmitting
            self._wait_for_queue = False
            self.progress.status(stage, f"provider batch queue full: waiting {self.queue_wait:g} s")
            self.sleep(self.queue_wait)
        return set(waiting)

    def _round(self, pool: ThreadPoolExecutor | None, fn: Callable[[Any], Any], items: list[Any], todo: list[int],
               reporter: "_Reporter") -> dict[int, DeferredRequest]:
        """Run `todo` once; report the items that finish; the others' index -> the request each waits on."""
        waiting: dict[int, DeferredRequest] = {}
        if pool is None or len(todo) == 1:
            for index in todo:
                self._settle(index, self._one(fn, items[index]), waiting, reporter)
            return waiting
        # Each task runs in a copy of this context: the collector and dspy.context() settings carry over.
        running: dict[Future, int] = {pool.submit(copy_context().run, self._one, fn, items[i]): i for i in todo}
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    self._settle(running.pop(future), future.result(), waiting, reporter)
        except BaseException:
            for future in running:
                future.cancel()
            raise
        return waiting

    @staticmethod
    def _settle(index: int, result: Outcome | DeferredRequest, waiting: dict[int, DeferredRequest],
                reporter: "_Reporter") -> None:
        if isinstance(result, DeferredRequest):
            waiting[index] = result
        else:
            reporter.finish(index, result)

    @staticmethod
    def _one(fn: Callable[[Any], Any], item: Any) -> Outcome | DeferredRequest:
        """The item's outcome, or the request it waits on."""
        try:
            return Outcome(item, value=fn(item))
        except DeferredCall as deferred:
            return deferred.request
        except StepError as exc:
            log.warning("item %s failed: %s", getattr(item, "id", item), exc)
            return Outcome(item, error=str(exc), stage=exc.step, endpoint_failure=exc.endpoint_failure, permanent=exc.permanent)

    # -- the engine's collector hooks -------------------------------------------------------
    def _defers(self, request: DeferredRequest) -> bool:
        return request.role in self.providers

    def _answer(self, request: DeferredRequest) -> dict[str, Any] | None:
        failure = self._failed.get(request.key)
        if failure is not None:
            raise copy.copy(failure)
        return self.store.answer(request.key)

    # -- submit, resume, poll, read ---------------------------------------------------------------
    def _dispatch(self, stage: str, requests: list[DeferredRequest]) -> dict[tuple[str, str], BatchProvider]:
        """(provider, batch id) -> provider of every batch the round's requests wait on: earlier ones not
        read yet (a restarted run resumes them), then new ones for the rest."""
        waiting: dict[tuple[str, str], BatchProvider] = {}
        covered: set[str] = set()
        for batch in self.store.unread(r.key for r in requests):
            provider = self._by_ident.get(batch.provider)
            if provider is None:
                log.warning("%s: batch %s was submitted to %s, which this run does not use; its requests are sent again",
                            stage, batch.id, batch.provider)
                continue
            waiting[(batch.provider, batch.id)] = provider
            covered |= set(self.store.requests(batch.provider, batch.id))
            log.info("%s: resuming %s batch %s (submitted earlier, status %s) instead of submitting again",
                     stage, provider.name, batch.id, batch.status)
        groups: dict[tuple, tuple[BatchProvider, list[tuple[DeferredRequest, dict[str, Any]]]]] = {}
        for request in requests:
            if request.key in covered:
                continue
            provider = self.providers[request.role]
            try:
                line = provider.prepare(request)
            except UnbatchableRequest as exc:
                self._failed[request.key] = BatchRequestError(f"{request.role} model {request.model}: {exc}")
                continue
            groups.setdefault((provider.ident, provider.group(request)), (provider, []))[1].append((request, line))
        for provider, members in groups.values():
            caps = [self.store.queue_full_cap(provider.ident, [request.key for request, _ in members]),
                    *(self._queue_cap.get((provider.ident, model)) for model in {request.model for request, _ in members})]
            cap = min((c for c in caps if c is not None), default=None)
            if cap is not None:
                log.warning("%s: an earlier %s batch of these requests failed on a full queue; submitting them in "
                            "batches of at most %d", stage, provider.name, cap)
            for chunk in _chunks(members, min(provider.max_requests, cap or provider.max_requests), provider.max_bytes):
                state = provider.submit([line for _, line in chunk], label=stage)
                self.store.add(state, provider.ident, stage, [request for request, _ in chunk])
                waiting[(provider.ident, state.id)] = provider
                log.info("%s: submitted %d requests as %s batch %s", stage, len(chunk), provider.name, state.id)
        return waiting

    def _wait(self, stage: str, waiting: Mapping[tuple[str, str], BatchProvider]) -> None:
        """Poll until every batch has ended, reading each one's results as it ends."""
        pending = dict(waiting)
        while pending:
            lines = []
            for (ident, batch_id), provider in list(pending.items()):
                state = provider.poll(batch_id)
                self.store.update(ident, state)
                lines.append(state.describe(provider.name))
                if state.ended:
                    self._read(stage, provider, state)
                    del pending[(ident, batch_id)]
            self.progress.status(stage, "; ".join(lines))
            if pending:
                self.sleep(self.poll_seconds)

    def _read(self, stage: str, provider: BatchProvider, state: BatchState) -> None:
        """Store every request's result; count the answered ones; register failures; plan one resubmission;
        stop the run on a result every request would share."""
        requests = self.store.requests(provider.ident, state.id)
        if state.queue_full:
            return self._queue_was_full(stage, provider, state, requests)
        found: dict[str, RequestResult] = {}
        if state.error is None:
            for result in provider.results(state):
                if result.custom_id in requests:
                    found[result.custom_id] = result
                else:
                    log.warning("%s: %s batch %s returned a result for an unknown request %s", stage, provider.name,
                                state.id, result.custom_id[:16])
        rows, again, fatal = [], [], None
        for key, request in requests.items():
            result = found.get(key) or RequestResult(
                key, "errored" if state.error else state.missing,
                error=state.error or f"no result for this request when the batch ended ({state.status})")
            result = self._checked(result, request)
            rows.append((key, result.kind, result.reply, result.error))
            if result.kind == "succeeded":
                self._count(request, result.reply)
                continue
            kind, reason = ("fail", "the whole batch failed") if state.error else classify(provider.name, result)
            if kind == "temporary" and key not in self._sent_again:
                self._sent_again.add(key)
                again.append(key)
                continue
            self._failed[key] = self._failure(provider, state, request, result, kind, reason)
            if kind == "fatal" and fatal is None:
                fatal = self._failed[key]
        self.store.read(provider.ident, state.id, rows)
        if fatal is not None:
            raise BatchFatalError(f"{fatal}; the run stops (finished work is kept: rerun the same command after the fix)")
        if again:
            log.warning("%s: %d requests of %s batch %s (%s) did not run, or hit an error that may pass; submitting "
                        "them once more in a new batch", stage, len(again), provider.name, state.id, state.status)

    def _queue_was_full(self, stage: str, provider: BatchProvider, state: BatchState,
                        requests: Mapping[str, StoredRequest]) -> None:
        """A batch the provider refused because its queue was full: its requests go again later, in smaller
        batches (the store remembers the size that failed); a lone request or a queue that stays full fails."""
        error = state.error or "the batch failed: the queue of enqueued tokens is full"
        give_up = len(requests) == 1 or any(self._queue_full.get(key, 0) + 1 >= self.queue_tries for key in requests)
        for key, request in requests.items():
            self._queue_full[key] = self._queue_full.get(key, 0) + 1
            if give_up:
                why = ("even a batch of one request does not fit the organisation's enqueued-token limit" if len(requests) == 1
                       else f"the queue was still full after {self._queue_full[key]} tries")
                self._failed[key] = BatchRequestError(
                    f"{request.role} model {request.model}: {provider.name} batch {state.id}: {error}; {why}: rerun "
                    "later, when the organisation's other batches have finished, or raise its batch queue limit")
        self.store.read(provider.ident, state.id, [(key, "errored", None, error) for key in requests])
        for model in {request.model for request in requests.values()}:  # the queue is the organisation's, per model
            cap = max(1, len(requests) // 2)
            self._queue_cap[(provider.ident, model)] = min(cap, self._queue_cap.get((provider.ident, model), cap))
        if not give_up:
            self._wait_for_queue = True
            log.warning("%s: %s batch %s failed because the queue of enqueued tokens is full (%s); its %d requests go "
                        "again in batches of at most %d after %g s", stage, provider.name, state.id, error,
                        len(requests), max(1, len(requests) // 2), self.queue_wait)

    @staticmethod
    def _checked(result: RequestResult, request: StoredRequest) -> RequestResult:
        if result.kind != "succeeded" or request.path != CHAT_PATH:
            return result
        try:
            check_chat(result.reply)
        except MalformedReplyError as exc:
            return RequestResult(result.custom_id, "errored", error=f"malformed reply: {exc}")
        return result

    def _count(self, request: StoredRequest, reply: dict[str, Any] | None) -> None:
        if self.ledger is not None:
            prompt, completion, cached = usage_counts(reply)
            self.ledger.record_call(request.role, prompt_tokens=prompt, completion_tokens=completion,
                                    cached_prompt_tokens=cached, model=request.model, batch=True)

    def _failure(self, provider: BatchProvider, state: BatchState, request: StoredRequest,
                 result: RequestResult, kind: str, reason: str) -> BaseException:
        where = f"{request.role} model {request.model}: {provider.name} batch {state.id}"
        again = " (also in a second batch)" if request.key in self._sent_again else ""
        if result.kind != "errored":
            return BatchRequestError(f"{where}: the request {result.kind}{again} before it ran; rerun to try again")
        overflow = context_overflow(HTTPStatusFailure(result.status or 400, result.error or "", code=result.code))
        if overflow is not None:
            return ContextLengthError(f"{where}: the request does not fit the model's context window ({result.error}); "
                                      "this item is dropped", tokens=overflow[0], limit=overflow[1])
        if kind == "drop":
            return RequestDroppedError(f"{where}: {result.error}: {reason}; this item is dropped")
        if kind == "fatal":
            return BatchFatalError(f"{where}: {result.error}: {reason}")
        return BatchRequestError(f"{where}: the request failed{again}: {result.error}")


class _Reporter(ReportsOutcomes):
    """Reports finished items as they finish and stops the run when its endpoints look down (the streak counts
    within the stage: a batch stage's items finish round by round)."""

    def __init__(self, stage: str, on_outcome: OnOutcome | None, progress: Progress, limit: int):
        self.stage, self.on_outcome, self.progress, self.limit = stage, on_outcome, progress, limit
        self.watch = EndpointWatch(limit)
        self.results: dict[int, Outcome] = {}

    def finish(self, index: int, outcome: Outcome) -> None:
        self.results[index] = outcome
        self._finish(self.stage, outcome, self.on_outcome, self.limit)


def _chunks(members: list[tuple[DeferredRequest, dict[str, Any]]], max_requests: int, max_bytes: int):
    """Consecutive runs of `members` within a provider's per-batch request and size limits."""
    chunk: list[tuple[DeferredRequest, dict[str, Any]]] = []
    size = 0
    for member in members:
        line_size = len(jsonl([member[1]]))
        if chunk and (len(chunk) >= max_requests or size + line_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(member)
        size += line_size
    if chunk:
        yield chunk
