"""`program:` in a program YAML -> the dspy.Module that runs it."""

from __future__ import annotations

from importlib import import_module

import dspy

from codeclm.config import ProgramConfig

PROGRAMS = {
    "codeclm": "codeclm.program:CodecLM",
    "self_instruct": "codeclm.baselines.self_instruct:SelfInstruct",
    "evol_instruct": "codeclm.baselines.evol_instruct:EvolInstruct",
}


def program_class(name: str) -> type[dspy.Module]:
    module, _, attr = PROGRAMS[name].partition(":")
    return getattr(import_module(module), attr)


def build_program(config: ProgramConfig, lms: dict[str, dspy.BaseLM | None] | None = None) -> dspy.Module:
    """The program class named by `config.program`, bound to the role LMs."""
    return program_class(config.program)(config, lms)
