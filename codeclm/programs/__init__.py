"""Data programs: CodecLM and the baselines, on one base (forward over seeds -> records and dropped items)."""

from codeclm.programs.base import DataProgram, Stages
from codeclm.programs.codeclm import CodecLM
from codeclm.programs.registry import PROGRAMS, build_program

__all__ = ["CodecLM", "DataProgram", "PROGRAMS", "Stages", "build_program"]
