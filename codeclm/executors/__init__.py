"""Executors: where a program's stages run (threads here; Ray and provider batch APIs as extras)."""

from codeclm.executors.base import Executor, OnOutcome, Outcome, Progress
from codeclm.executors.threads import ThreadExecutor

__all__ = ["Executor", "OnOutcome", "Outcome", "Progress", "ThreadExecutor"]
