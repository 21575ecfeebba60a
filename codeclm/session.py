"""One way to open a program: config -> engine (cache, limits, ledger) + role LMs + the program.

`run`, `load_program`, `optimize`, `codeclm judge check` and `codeclm eval` all open their
program here, so every call they make is cached and counted the same way.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from codeclm.config import ModelSpec, ProgramConfig, load_config
from codeclm.engine import Engine, open_engine
from codeclm.programs import DataProgram, build_program
from codeclm.roles import RoleLMs, role_batch_discounts, role_prices


def default_cache_path() -> Path:
    from codeclm.local import cache_dir  # pure Python: the user cache folder

    return cache_dir() / "calls.sqlite"


@dataclass
class Session:
    """An open program: its engine, its role LMs and the program itself. Close it (or use `with`) to stop
    local servers and close the cache."""

    config: ProgramConfig
    engine: Engine
    lms: dict[str, Any]
    program: DataProgram
    roles: RoleLMs
    stack: ExitStack = field(repr=False)

    def lm(self, role: str, spec: ModelSpec, logprobs: bool = False) -> Any:
        """An LM for another role (e.g. an eval's candidate) on this session's engine; `logprobs`: a local
        server must return generation log-probabilities (a logprob judge's)."""
        return self.roles.lm(role, spec, logprobs=logprobs)

    def close(self) -> None:
        self.stack.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_program(config: ProgramConfig, *, lms: dict[str, Any] | None = None, tuned: str | Path | None = None,
                 engine: Engine | None = None) -> Session:
    """Open `config`'s program: engine, role LMs (or `lms`, e.g. fakes), the program, a tuned program's prompts.

    `engine`: use this one (a Ray worker's: cluster-wide cache and limiters) instead of opening the config's."""
    stack = ExitStack()
    try:
        if engine is None:
            cache_path = (config.resolve(config.cache.path) if config.cache.path else default_cache_path()) if config.cache.enabled else None
            engine = open_engine(stack, cache_path, role_prices(config), role_batch_discounts(config), config.caps())
        roles = RoleLMs(engine, stack, config.source)
        bound = lms if lms is not None else roles.for_program(config)
        program = build_program(config, bound)
        if tuned:
            from codeclm.tuned import load_tuned

            load_tuned(program, tuned)
        return Session(config, engine, bound, program, roles, stack)
    except BaseException:
        stack.close()
        raise


_open: list[Session] = []
atexit.register(lambda: [s.close() for s in reversed(_open)])


def load_program(path: str | Path, overrides: list[str] | None = None, lms: dict[str, dspy.BaseLM] | None = None,
                 tuned: str | Path | None = None) -> DataProgram:
    """A program YAML (and optionally a tuned program JSON) as a callable program bound to its models.

    Its engine stays open until Python exits: calls are cached and counted
    (`session_of(program).engine.ledger`). Call it as `program(seeds=[...])`.
    """
    session = open_program(load_config(path, overrides), lms=lms, tuned=tuned)
    _open.append(session)
    return session.program


def session_of(program: DataProgram) -> Session:
    """The session `load_program` opened for `program` (its engine: cache and ledger)."""
    for session in _open:
        if session.program is program:
            return session
    raise LookupError("this program was not opened by load_program")
