"""The local executor: a thread pool in this process (LLM calls wait on the network, not the CPU)."""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from typing import Callable, Sequence, TypeVar

from codeclm.errors import StepError
from codeclm.executors.base import EndpointWatch, OnOutcome, Outcome, Progress, ReportsOutcomes

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class ThreadExecutor(ReportsOutcomes):
    """Runs a stage's items on `concurrency` threads; one item's failure never ends the run.

    After `abort_after` items in a row fail on their endpoint (or every item of a shorter
    stage), the endpoint is taken as down: items not yet started are cancelled, the ones in
    flight finish and are reported, and EndpointError stops the run.
    """

    def __init__(self, concurrency: int = 1, abort_after: int = 8, progress: Progress | None = None):
        self.concurrency = max(1, concurrency)
        self.abort_after = abort_after
        self.progress = progress or Progress()
        self.watch = EndpointWatch(abort_after)

    def map(self, stage: str, fn: Callable[[T], R], items: Sequence[T], on_outcome: OnOutcome | None = None) -> list[Outcome[T, R]]:
        items = list(items)
        self.progress.start(stage, len(items))
        limit = self.watch.limit(len(items))
        results: dict[int, Outcome[T, R]] = {}
        if self.concurrency == 1 or len(items) <= 1:
            for index, item in enumerate(items):
                results[index] = self._finish(stage, self._one(stage, fn, item), on_outcome, limit)
            return [results[i] for i in range(len(items))]
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"codeclm-{stage}") as pool:
            # Each task runs in a copy of this context, so dspy.context() settings carry over.
            pending: dict[Future, int] = {pool.submit(copy_context().run, self._one, stage, fn, item): i for i, item in enumerate(items)}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        results[pending.pop(future)] = self._finish(stage, future.result(), on_outcome, limit)
            except BaseException:
                for future in pending:
                    future.cancel()  # not started yet: never started
                from codeclm.engine.http import cancel_all_inflight

                cancel_all_inflight()  # in flight: streamed requests close, so the servers stop computing them
                raise
        return [results[i] for i in range(len(items))]

    def _one(self, stage: str, fn: Callable[[T], R], item: T) -> Outcome[T, R]:
        try:
            return Outcome(item, value=fn(item))
        except StepError as exc:
            log.warning("%s: item %s failed: %s", stage, getattr(item, "id", item), exc)
            return Outcome(item, error=str(exc), stage=exc.step, endpoint_failure=exc.endpoint_failure, permanent=exc.permanent)
