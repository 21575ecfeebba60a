"""Saved prompt states without score copies, for ``llama_cpp.server`` (runs in the server process).

The RAM prompt cache saves the model state after every request and restores the longest
matching prefix, so each step's long instructions stay warm. llama-cpp-python 0.3.36 copies
the ``scores`` rows into every saved state (up to 512 x the vocabulary) although the cache's
capacity counts only the KV bytes, so the server grows far past its cache size (docs/speed.md,
"no 300 MB copies per saved state"). Without ``logits_all`` those rows are never
read (sampling reads the context's logits), so ``install()`` saves and restores states
without them; with ``logits_all`` the library's own behaviour is kept.
"""

from __future__ import annotations

import llama_cpp


def install() -> None:
    """Patch ``Llama.save_state`` / ``load_state`` to skip the score rows when ``logits_all`` is off."""
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
