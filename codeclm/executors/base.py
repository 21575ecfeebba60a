"""How a program maps one stage over its items: the Executor interface and each item's Outcome.

A program says *what* a stage does (`fn`, a bound method of the program, and its items); an
executor decides *where and how*: threads in this process (`ThreadExecutor`), workers on a Ray
cluster, or provider batch APIs. Every executor reports each finished item through
`on_outcome` as it finishes, so records reach disk as they happen.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, Protocol, Sequence, TypeVar

from codeclm.errors import EndpointError

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Outcome(Generic[T, R]):
    """One item's result: `value`, or `error` with the step that failed and whether its endpoint did."""

    item: T
    value: R | None = None
    error: str | None = None
    stage: str | None = None
    endpoint_failure: bool = False
    permanent: bool = False  # the same item would fail the same way again: not retried by a later run

    @property
    def ok(self) -> bool:
        return self.error is None


OnOutcome = Callable[[Outcome[Any, Any]], None]


class Executor(Protocol):
    """Maps `fn` over `items` for one stage; returns every item's Outcome in the items' order.

    An executor may call `fn` more than once for one item (the batch executor replays an item from
    its start after each batch; a cluster may rerun a lost task): `fn`'s LLM calls are cached, and
    its other side effects must be keyed per item so that a replay does not repeat them.
    """

    def map(self, stage: str, fn: Callable[[T], R], items: Sequence[T], on_outcome: OnOutcome | None = None) -> list[Outcome[T, R]]:
        ...


class Progress:
    """What an executor reports about a stage; `codeclm.console.progress.StageProgress` draws it."""

    def start(self, stage: str, total: int) -> None: ...

    def advance(self, stage: str) -> None: ...

    def status(self, stage: str, text: str) -> None:
        """What a stage is waiting for (e.g. a provider batch's progress); '' when it waits no more."""


class EndpointWatch:
    """Takes an endpoint as down after `abort_after` items in a row failed on it (or every item of a shorter
    stage); the streak runs across stages. `see` raises EndpointError then. Every executor counts this way."""

    def __init__(self, abort_after: int = 8):
        self.abort_after = abort_after
        self.in_a_row = 0
        self._lock = threading.Lock()

    def limit(self, items: int) -> int:
        """The streak that stops a stage of `items` items."""
        return min(self.abort_after, max(1, items))

    def see(self, outcome: Outcome[Any, Any], limit: int) -> None:
        with self._lock:
            self.in_a_row = self.in_a_row + 1 if outcome.endpoint_failure else 0
            down = self.in_a_row >= limit
        if down:
            raise EndpointError(
                f"{self.in_a_row} items in a row failed on their endpoint, last: {outcome.error}; "
                "check the endpoint, then rerun the same command to resume"
            )


class ReportsOutcomes:
    """For executors: each finished item goes to the program (`on_outcome`), then the progress display, then
    the endpoint watch, which may stop the run."""

    progress: Progress
    watch: EndpointWatch

    def _finish(self, stage: str, outcome: Outcome[Any, Any], on_outcome: OnOutcome | None, limit: int) -> Outcome[Any, Any]:
        if on_outcome is not None:
            on_outcome(outcome)
        self.progress.advance(stage)
        self.watch.see(outcome, limit)
        return outcome
