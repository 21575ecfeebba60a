"""Which executor runs a run's stages: `local` (threads in this process, the default) or `ray` (a Ray cluster)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from codeclm.config import ProgramConfig
from codeclm.errors import ConfigError
from codeclm.executors.base import Executor
from codeclm.executors.threads import Progress, ThreadExecutor

EXECUTORS = ("local", "ray")


def check_executor(name: str, config: ProgramConfig, *, address: str | None = None, lms: Any = None) -> None:
    """Refuse a bad choice before any model starts, in one line that says the fix."""
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name}: unknown executor; choose from {', '.join(EXECUTORS)}")
    if name == "local" and address:
        raise ConfigError(f"--address {address}: only --executor ray joins a cluster; add --executor ray or drop --address")
    if name == "ray":
        from codeclm.executors.ray import RayExecutor

        RayExecutor.check(config, lms=lms)


@contextmanager
def open_executor(name: str, session: Any, *, tuned: str | Path | None = None, address: str | None = None,
                  progress: Progress | None = None) -> Iterator[Executor]:
    """The executor `name` for an open session's program; a Ray executor's workers stop when the block ends."""
    if name == "local":
        yield ThreadExecutor(session.config.concurrency, progress=progress)
        return
    from codeclm.executors.ray import RayExecutor

    with RayExecutor(session.config, tuned=tuned, address=address, session=session, progress=progress) as executor:
        yield executor
