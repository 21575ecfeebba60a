"""`program:` in a program YAML -> the DataProgram class that runs it: the one `PROGRAMS` (codeclm.models.config) names."""

from __future__ import annotations

import pkgutil

import dspy

from codeclm.models.config import PROGRAMS, ProgramConfig
from codeclm.programs.base import DataProgram


def program_class(name: str) -> type[DataProgram]:
    """The DataProgram class of program `name` (imported now: config names it without importing it)."""
    return pkgutil.resolve_name(PROGRAMS[name])


def build_program(config: ProgramConfig, lms: dict[str, dspy.BaseLM | None] | None = None) -> DataProgram:
    """The program class named by `config.program`, bound to the role LMs."""
    return program_class(config.program)(config, lms)
