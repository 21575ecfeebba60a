"""Python entry point: `load_program(path)` gives a ready CodecLM program bound to its models."""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from pathlib import Path

import dspy

from codeclm.config import load_config
from codeclm.models import build_lms
from codeclm.baselines.registry import build_program
from codeclm.program import CodecLM

_servers = ExitStack()  # local servers started for loaded programs stop when Python exits
atexit.register(_servers.close)


def load_program(path: str | Path, overrides: list[str] | None = None, lms: dict[str, dspy.BaseLM] | None = None, tuned: str | Path | None = None) -> CodecLM:
    """Load a program YAML (and optionally a tuned/saved program JSON) into a callable CodecLM.

    Without `lms`, each role's model is resolved from the YAML (local models are
    started and stopped at interpreter exit). Call it as `program(seeds=[...])`.
    """
    config = load_config(path, overrides)
    program = build_program(config, lms if lms is not None else build_lms(config, _servers))  # `program:` picks the class
    if tuned:
        program.load(str(tuned))
    return program
