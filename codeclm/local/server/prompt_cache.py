"""Saved prompt states without score copies, for ``llama_cpp.server`` (runs in the server process).

The RAM prompt cache saves the model state after every request and restores the longest
matching prefix, so each step's long instructions stay warm. llama-cpp-python 0.3.36 copies
the ``scores`` rows into every saved state (up to 512 x the vocabulary) although the cache's
capacity counts only the KV bytes, so the server grows far past its cache size (docs/speed.md,
"no 300 MB copies per saved state"). Without ``logits_all`` those rows are never
read (sampling reads the context's logits), so ``install()`` saves and restores states
without them. With ``logits_all`` (a server started for generation log-probabilities, the logprob
judge schemes) the rows are kept, and the cache's capacity counts them: uncounted, a 1.5B judge
server grew by ~0.4 GB per request until the machine killed it (2026-12-07, 21 GB after ~80 verdicts).
"""

from __future__ import annotations

import llama_cpp
import llama_cpp.llama_cache


def counted_size(cache) -> int:
    """Bytes a RAM prompt cache holds: each state's KV bytes and the score rows it carries."""
    return sum(state.llama_state_size + state.scores.nbytes for state in cache.cache_state.values())


def install() -> None:
    """Patch ``Llama.save_state`` / ``load_state`` to skip the score rows when ``logits_all`` is off, and the RAM
    cache to count the rows a state does carry."""
    llama_cpp.llama_cache.LlamaRAMCache.cache_size = property(counted_size)
    original_save, original_load = llama_cpp.Llama.save_state, llama_cpp.Llama.load_state

    def save_state(self):
        if self._logits_all:
            return original_save(self)
        full, self.scores = self.scores, self.scores[:0]  # the state keeps a (0, vocab) copy: nothing
        try:
            return original_save(self)
        finally:
            self.scores = full

    def load_state(self, state) -> None:
        if self._logits_all or state.scores.size:
            return original_load(self, state)
        full, self.scores = self.scores, self.scores[:0]
        try:
            original_load(self, state)
        finally:
            self.scores = full

    llama_cpp.Llama.save_state = save_state
    llama_cpp.Llama.load_state = load_state
