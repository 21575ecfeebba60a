"""One local model computes at a time on this machine (runs in each server process).

Two llama.cpp servers computing at once on the same cores slow each other far below half speed
(each spins its threads on cores the other needs). When a run's items are in different steps at
once, the strong model's answers and the target's requests would overlap, so every evaluation
takes a turn: a machine-wide file lock (``fcntl.flock``, in codeclm's cache directory) held for
one batched step, one token of a streamed request, or one whole plain request. Turns are short,
so neither server waits long, and a client that goes away never holds the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from typing import Iterator


class Turns:
    """A re-entrant (per process) exclusive lock on one file, shared by every local server using that file."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._guard = threading.Lock()
        self._depth = 0

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        with self._guard:
            first = self._depth == 0
            self._depth += 1
        if first:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            with self._guard:
                self._depth -= 1
                last = self._depth == 0
            if last:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.sched_yield()  # let a server waiting for its turn take it


TURNS: Turns | None = None


def turn():
    """The machine-wide turn, or nothing when no lock file was configured."""
    return TURNS.turn() if TURNS is not None else contextlib.nullcontext()


def install(path: str) -> None:
    """Hold a turn around every ``Llama.create_completion`` (chat requests go through it too): the whole
    call for a plain reply, each chunk for a streamed one."""
    global TURNS
    import llama_cpp

    TURNS = Turns(path)
    original = llama_cpp.Llama.create_completion

    def create_completion(self, *args, **kwargs):
        with turn():
            result = original(self, *args, **kwargs)
        return result if isinstance(result, dict) else _chunk_by_chunk(result)

    llama_cpp.Llama.create_completion = create_completion


def _chunk_by_chunk(chunks):
    iterator = iter(chunks)
    try:
        while True:
            with turn():
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            with turn():
                close()
