"""Which request runs when: a queue of text-only chat requests, batches run under the server's lock
(runs in the server process)."""

from __future__ import annotations

import asyncio
import sys
from collections import deque

from codeclm.local.server.batching.engine import Batch
from codeclm.local.server.batching.sequence import Prompter, Sequence


class Batcher:
    """Runs side-by-side sequences on the server's model while holding the server's lock.

    A submitted request waits in a queue; the first one starts a batch, which admits waiting
    requests between steps while a slot is free and the context has room for the prompt and the
    token budget, and ends when no sequence is left. llama-cpp-python's own requests take the same
    lock, so they wait while a batch runs (and a batch waits for them).
    """

    def __init__(self, slots: int, server_app):
        self.slots, self.server_app = slots, server_app
        self.waiting: deque[Sequence] = deque()
        self.running = False
        self.prompter = Prompter()

    async def submit(self, seq: Sequence) -> None:
        self.waiting.append(seq)
        if not self.running:
            self.running = True
            asyncio.ensure_future(self._lead())

    async def _lead(self) -> None:
        """Take the server's lock (as llama-cpp-python's own requests do) and run batches until none wait."""
        import anyio

        outer, inner = self.server_app.llama_outer_lock, self.server_app.llama_inner_lock
        try:
            while self.waiting:
                await outer.acquire()
                try:
                    await inner.acquire()
                finally:
                    outer.release()
                try:
                    await anyio.to_thread.run_sync(self._run)
                finally:
                    inner.release()
        finally:
            self.running = False

    def _run(self) -> None:
        """Admit waiting requests between steps and step every active sequence until none is left."""
        batch = Batch(self.server_app._llama_proxy(None), self.slots)
        try:
            while True:
                while self.waiting and batch.free:
                    seq = self.waiting[0]
                    if seq.cancelled:
                        self.waiting.popleft()
                        continue
                    if not seq.prompt:
                        error = self.prompter.prepare(batch.llama, seq)
                        if error:
                            self.waiting.popleft()
                            seq.finish(error=error)
                            continue
                    if not batch.has_room(seq):
                        break
                    batch.admit(self.waiting.popleft())
                batch.retire_finished()
                if not batch.active:
                    if self.waiting and batch.free:
                        continue
                    return
                batch.step()
        except Exception as exc:  # the model failed: every request taken or waiting gets the error, none hangs
            print(f"codeclm batch: batched generation failed: {exc!r}", file=sys.stderr, flush=True)
            while self.waiting:
                batch.active.append(self.waiting.popleft())
            for seq in batch.active:
                seq.finish(error=(500, f"batched generation failed: {exc}"))
        finally:
            batch.close()
            if batch.admitted:
                print(batch.summary(), file=sys.stderr, flush=True)
