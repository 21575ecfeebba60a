"""`program:` in a program YAML -> the DataProgram class that runs it (add a new program here)."""

from __future__ import annotations

import dspy

from codeclm.models.config import ProgramConfig
from codeclm.programs.base import DataProgram
from codeclm.programs.codeclm import CodecLM
from codeclm.programs.evol_instruct import EvolInstruct
from codeclm.programs.self_instruct import SelfInstruct

PROGRAMS: dict[str, type[DataProgram]] = {
    "codeclm": CodecLM,
    "self_instruct": SelfInstruct,
    "evol_instruct": EvolInstruct,
}


def build_program(config: ProgramConfig, lms: dict[str, dspy.BaseLM | None] | None = None) -> DataProgram:
    """The program class named by `config.program`, bound to the role LMs."""
    return PROGRAMS[config.program](config, lms)
