"""One batch on llama.cpp's context: sequences sharing decoding steps and prompt prefixes (runs in the server
process, on the batch's thread, while the scheduler holds the server's lock)."""

from __future__ import annotations

import time

from codeclm.local.server.batching.sequence import Sequence
from codeclm.local.server.turns import turn


class Batch:
    """Sequences side by side on the server's model, between taking the server's lock and giving it back.

    Sequence ids 1..slots are the batch's (0 stays llama-cpp-python's own). A new sequence starts from
    the longest prompt prefix already in the context (llama-cpp-python's last prompt, a running or a
    finished sequence of this batch), shared by reference, so a step's long instructions are read once.
    Each prefill and each step takes the machine-wide turn (:mod:`codeclm.local.server.turns`).
    """

    def __init__(self, llama, slots: int):
        import llama_cpp.llama_cpp as lib

        self.lib, self.llama = lib, llama
        self.ctx, self.mem = llama._ctx.ctx, lib.llama_get_memory(llama._ctx.ctx)
        self.vocab = lib.llama_model_get_vocab(llama._model.model)
        self.n_cells = lib.llama_n_ctx(self.ctx)
        self.slots = slots
        self.batch = lib.llama_batch_init(max(llama.n_batch, slots), 0, 1)
        self.active: list[Sequence] = []
        self.free = list(range(slots, 0, -1))
        self.held: dict[int, list[int]] = {}  # finished sequences' tokens, still in the context as prefixes
        self.admitted: list[Sequence] = []

    def has_room(self, seq: Sequence) -> bool:
        return not self.active or sum(s.reserved for s in self.active) + seq.reserved <= self.n_cells

    def admit(self, seq: Sequence) -> None:
        """Give the sequence a slot, read its prompt (after the longest shared prefix) and sample its first token."""
        seq.seq_id = self.free.pop()
        started = time.perf_counter()
        with turn():
            self._start_from_prefix(seq)
            self._prefill(seq)
        seq.prompt_ms = (time.perf_counter() - started) * 1000
        self.admitted.append(seq)
        self.active.append(seq)
        self._after_token(seq)

    def retire_finished(self) -> None:
        for seq in [s for s in self.active if s.finish_reason or s.cancelled]:
            self.active.remove(seq)
            self.free.append(seq.seq_id)
            self.held.pop(seq.seq_id, None)
            self.held[seq.seq_id] = seq.prompt + seq.out[:-1]  # what its cells hold (last retired last)

    def step(self) -> None:
        """One decoding step over every active sequence; each is charged an equal share of its time."""
        started = time.perf_counter()
        batch = self.batch
        batch.n_tokens = len(self.active)
        for i, seq in enumerate(self.active):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = seq.out[-1], seq.pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq.seq_id, True
            seq.pos += 1
        with turn():
            self._decode("a batched step")
            for i, seq in enumerate(self.active):
                seq.out.append(seq.sampler.sample(self.llama._ctx, i))
        step_ms = (time.perf_counter() - started) * 1000
        for seq in self.active:
            seq.predicted_ms += step_ms / len(self.active)
            self._after_token(seq)

    def close(self) -> None:
        """Hand the last finished sequence to llama-cpp-python as its sequence 0 (its prefix stays warm for
        the next request, batched or not) and free the batch's sequence ids."""
        lib = self.lib
        if self.held:
            seq_id, tokens = list(self.held.items())[-1]
            lib.llama_memory_seq_rm(self.mem, 0, -1, -1)
            lib.llama_memory_seq_cp(self.mem, seq_id, 0, 0, len(tokens))
            self.llama.input_ids[: len(tokens)] = tokens
            self.llama.n_tokens = len(tokens)
        for seq_id in range(1, self.slots + 1):
            lib.llama_memory_seq_rm(self.mem, seq_id, -1, -1)
        lib.llama_batch_free(self.batch)

    def summary(self) -> str:
        """One line for the server's log (for people: programs read each reply's ``timings``)."""
        seqs = self.admitted
        return (f"codeclm batch: {len(seqs)} requests side by side, "
                f"{sum(len(s.prompt) - s.reused for s in seqs)} prompt tokens read "
                f"({sum(s.reused for s in seqs)} reused) in {sum(s.prompt_ms for s in seqs):.0f} ms, "
                f"{sum(len(s.out) for s in seqs)} tokens generated in {sum(s.predicted_ms for s in seqs):.0f} ms")

    def _start_from_prefix(self, seq: Sequence) -> None:
        sources = dict(self.held)
        if self.llama.n_tokens:
            sources[0] = self.llama.input_ids[: self.llama.n_tokens].tolist()
        sources.update({s.seq_id: s.prompt + s.out[:-1] for s in self.active})
        self.held.pop(seq.seq_id, None)
        self.lib.llama_memory_seq_rm(self.mem, seq.seq_id, -1, -1)
        best_id, best = 0, 0
        for seq_id, tokens in sources.items():
            n = self.llama.longest_token_prefix(tokens, seq.prompt)
            if n > best:
                best_id, best = seq_id, n
        best = min(best, len(seq.prompt) - 1)  # at least one token is read, for the first logits
        if best > 0:
            self.lib.llama_memory_seq_cp(self.mem, best_id, seq.seq_id, 0, best)
        seq.pos = seq.reused = best

    def _prefill(self, seq: Sequence) -> None:
        batch, n_batch, rest = self.batch, self.llama.n_batch, seq.prompt[seq.pos:]
        for start in range(0, len(rest), n_batch):
            chunk = rest[start:start + n_batch]
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, seq.pos + start + i, 1
                batch.seq_id[i][0], batch.logits[i] = seq.seq_id, start + i == len(rest) - 1
            self._decode("reading a prompt")
        seq.pos = len(seq.prompt)
        seq.out.append(seq.sampler.sample(self.llama._ctx, (len(rest) - 1) % n_batch))

    def _decode(self, what: str) -> None:
        """llama_decode; when the context is full, drop the finished sequences kept as prefixes (and
        llama-cpp-python's last prompt) and try once more."""
        result = self.lib.llama_decode(self.ctx, self.batch)
        if result == 1 and (self.held or self.llama.n_tokens):
            for seq_id in self.held:
                self.lib.llama_memory_seq_rm(self.mem, seq_id, -1, -1)
            self.held.clear()
            self.lib.llama_memory_seq_rm(self.mem, 0, -1, -1)
            self.llama.n_tokens = 0
            result = self.lib.llama_decode(self.ctx, self.batch)
        if result != 0:
            raise RuntimeError(f"llama_decode returned {result} while {what}")

    def _after_token(self, seq: Sequence) -> None:
        """Finish the sequence on an end-of-generation token, a stop string or its token budget."""
        if seq.cancelled:
            return
        if self.lib.llama_vocab_is_eog(self.vocab, seq.out[-1]):
            seq.out.pop()
            seq.text = self._text(seq.out)
            seq.finish("stop")
            return
        text = self._text(seq.out)
        hits = [text.find(s) for s in seq.stop if s in text]
        if hits:
            seq.text = text[:min(hits)]
            seq.finish("stop")
        elif len(seq.out) >= seq.max_tokens:
            seq.text = text
            seq.finish("length")

    def _text(self, tokens: list[int]) -> str:
        return self.llama.detokenize(tokens).decode("utf-8", errors="ignore")
