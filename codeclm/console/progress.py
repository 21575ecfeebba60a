"""Progress per stage: live rich bars on a terminal, plain periodic lines in logs and CI."""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn, TransferSpeedColumn)

STATUS_EVERY = 300.0  # seconds between repeated status lines in logs


class StageProgress:
    """One bar (or log line series) per pipeline stage; a context manager."""

    def __init__(self, console: Console):
        self.console = console
        self._live = console.is_terminal
        self._bars = Progress(
            TextColumn("[bold]{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"), console=console, transient=False,
        ) if self._live else None
        self._tasks: dict[str, Any] = {}
        self._counts: dict[str, list[float]] = {}  # stage -> [done, total, started]
        self._statuses: dict[str, tuple[str, float]] = {}  # stage -> (status without its numbers, printed at)
        self._lock = threading.Lock()

    def __enter__(self) -> "StageProgress":
        if self._bars is not None:
            self._bars.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bars is not None:
            self._bars.__exit__(*exc)

    def start(self, stage: str, total: int) -> None:
        with self._lock:
            self._counts[stage] = [0, total, time.monotonic()]
        if self._bars is not None:
            self._tasks[stage] = self._bars.add_task(stage, total=total, status="")
        else:
            self.console.print(f"{stage}: {total} items", highlight=False)

    def advance(self, stage: str) -> None:
        if self._bars is not None:
            self._bars.advance(self._tasks[stage])
            return
        with self._lock:
            counts = self._counts[stage]
            counts[0] += 1
            done, total, started = counts
        step = max(1, int(total) // 10)
        if done == total or done % step == 0:
            self.console.print(f"{stage}: {int(done)}/{int(total)} ({time.monotonic() - started:.0f} s)", highlight=False)

    def status(self, stage: str, text: str) -> None:
        """Show what the stage waits for beside its bar; in logs, a line when it changes other than in its
        counts, or every STATUS_EVERY seconds (a batch can take hours)."""
        if self._bars is not None:
            if stage in self._tasks:
                self._bars.update(self._tasks[stage], status=text)
            return
        shape, now = re.sub(r"\d+", "#", text), time.monotonic()
        with self._lock:
            last_shape, last_time = self._statuses.get(stage, ("", 0.0))
            due = text and (shape != last_shape or now - last_time >= STATUS_EVERY)
            if due or not text:
                self._statuses[stage] = (shape, now)
        if due:
            self.console.print(f"{stage}: {text}", highlight=False)


@contextmanager
def byte_progress(description: str, total: int, console: Console | None = None) -> Iterator[Callable[[int], None]]:
    """Progress over `total` bytes (yields `advance(n)`): a live bar on a terminal; in logs, a line when it starts
    and one when it has finished."""
    console = console or Console(stderr=True)
    started = time.monotonic()
    if console.is_terminal:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=console, transient=False) as bars:
            task = bars.add_task(description, total=total)
            yield lambda n: bars.advance(task, n)
        return
    console.print(f"{description}: {total / 1e6:,.0f} MB", highlight=False)
    yield lambda n: None
    console.print(f"{description}: done in {time.monotonic() - started:.0f} s", highlight=False)
