"""How a program maps a step over items: concurrently, with progress, one failure never ending the run."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, TypeVar

from codeclm.errors import EndpointError, StepError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Outcome(Generic[T, R]):
    """One item's result: `value`, or `error` with the step that failed."""

    item: T
    value: R | None = None
    error: str | None = None
    stage: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Runner:
    """Maps a function over items with a thread pool. Subclass hooks report progress and results.

    An item whose step fails is recorded as failed and the run goes on; but after
    `abort_after` endpoint failures in a row the endpoint is taken as down and the
    run stops with EndpointError (finished records are already on disk).
    """

    def __init__(self, concurrency: int = 1, abort_after: int = 8):
        self.concurrency = max(1, concurrency)
        self.abort_after = abort_after
        self._failures_in_a_row = 0
        self._stage_total = 0
        self._lock = threading.Lock()

    def map(self, stage: str, fn: Callable[[T], R], items: Iterable[T]) -> list[Outcome[T, R]]:
        items = list(items)
        self._stage_total = len(items)
        self.stage_started(stage, len(items))
        if self.concurrency == 1 or len(items) <= 1:
            outcomes = [self._one(stage, fn, item) for item in items]
        else:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"codeclm-{stage}") as pool:
                # Each task runs in a copy of this context, so dspy.context() settings carry over.
                futures = [pool.submit(copy_context().run, self._one, stage, fn, item) for item in items]
                outcomes = [f.result() for f in futures]
        self.stage_finished(stage)
        return outcomes

    def _one(self, stage: str, fn: Callable[[T], R], item: T) -> Outcome[T, R]:
        try:
            outcome = Outcome(item, value=fn(item))
        except StepError as exc:
            log.warning("%s: item %s failed: %s", stage, getattr(item, "id", item), exc)
            outcome = Outcome(item, error=str(exc), stage=exc.step)
            self._count_failure(exc)
        else:
            with self._lock:
                self._failures_in_a_row = 0
        self.item_done(stage, outcome)
        return outcome

    def _count_failure(self, exc: StepError) -> None:
        with self._lock:
            self._failures_in_a_row = self._failures_in_a_row + 1 if exc.endpoint_failure else 0
            # every item of a short stage failing on its endpoint means the same: it is down
            down = self._failures_in_a_row >= min(self.abort_after, max(1, self._stage_total))
        if down:
            raise EndpointError(
                f"{self._failures_in_a_row} items in a row failed on their endpoint, last: {exc}; "
                "check the endpoint, then rerun the same command to resume"
            )

    # Hooks: progress bars and record sinks override these.
    def stage_started(self, stage: str, total: int) -> None: ...

    def item_done(self, stage: str, outcome: Outcome[Any, Any]) -> None: ...

    def stage_finished(self, stage: str) -> None: ...
