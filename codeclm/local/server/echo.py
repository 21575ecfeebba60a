"""Prompt log-probabilities at the model's own speed for ``llama_cpp.server`` (runs in the server process).

A judging scheme that reads how hard an answer is for the target asks for the log-probability
of every prompt token: OpenAI's legacy ``/v1/completions`` with ``echo: true, logprobs: 0,
max_tokens: <= 1``. llama-cpp-python 0.3.36 answers that request, but only on a server started
with ``logits_all`` (which slows every other request), and it sorts the whole vocabulary in
pure Python for every prompt token, many times the forward pass's own time (docs/speed.md,
"prompt scoring at model speed"). ``install()`` routes exactly that request shape to
``score``: one forward pass with logits for every position, log-softmax in numpy, the same
response fields (``tokens``, ``token_logprobs``, ``text_offset``, ``top_logprobs``). Every
other request takes llama-cpp-python's own path, and the server needs no ``logits_all``.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import numpy as np

EMBEDDED_ID = "cmpl-codeclm-echo-"  # codeclm.engine.score tells these replies (aligned) from the library's echo path


def install() -> None:
    """Patch ``llama_cpp.Llama.create_completion`` so scoring requests take ``score``."""
    import llama_cpp

    original = llama_cpp.Llama.create_completion

    def create_completion(self, prompt, *args, **kwargs):
        if not args and is_score_request(prompt, kwargs):
            return score(self, prompt, kwargs.get("model"), int(kwargs.get("logprobs") or 0))
        return original(self, prompt, *args, **kwargs)

    llama_cpp.Llama.create_completion = create_completion


def is_score_request(prompt: Any, kwargs: dict[str, Any]) -> bool:
    """echo + logprobs, at most one new token, no streaming: the prompt's log-probabilities are the answer."""
    return (isinstance(prompt, str) and bool(prompt) and bool(kwargs.get("echo"))
            and kwargs.get("logprobs") is not None and not kwargs.get("stream")
            and kwargs.get("max_tokens") in (0, 1) and kwargs.get("suffix") is None)


def prompt_tokens(llama, prompt: str) -> list[int]:
    """The tokens llama-cpp-python's own completion path would evaluate for ``prompt``."""
    bos = llama.token_bos()
    prefix = [bos] if llama._model.add_bos_token() and bos >= 0 else []
    return prefix + llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


def next_token_logprobs(llama, tokens: list[int], top: int = 0) -> tuple[list[float | None], list[dict[str, float] | None]]:
    """log P(token i | tokens < i) for every i (None for the first), evaluated in ``n_batch`` chunks.

    Leaves the model's KV cache (and, with ``logits_all``, its score rows) holding ``tokens``, so
    a following request with the same prefix reuses them as llama-cpp-python's own path would.
    """
    n_vocab = llama.n_vocab()
    logprobs: list[float | None] = [None]
    tops: list[dict[str, float] | None] = [None]
    llama.reset()
    llama._ctx.kv_cache_seq_rm(-1, 0, -1)
    for start in range(0, len(tokens), llama.n_batch):
        chunk = tokens[start : start + llama.n_batch]
        llama._batch.set_batch(batch=chunk, n_past=start, logits_all=True)
        llama._ctx.decode(llama._batch)
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(len(chunk), n_vocab))
        if llama._logits_all:  # llama-cpp-python's own echo path reads these rows when it reuses this prefix
            llama.scores[start : start + len(chunk), :] = logits
        following = np.asarray(tokens[start + 1 : start + len(chunk) + 1], dtype=np.intp)
        rows = logits[: len(following)].astype(np.float64)
        peak = rows.max(axis=1, keepdims=True)
        normalizer = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
        logprobs.extend((rows[np.arange(len(following)), following] - normalizer).tolist())
        if top:
            best = np.argpartition(-rows, top, axis=1)[:, :top]
            for row, ids in zip(rows - normalizer[:, None], best):
                tops.append({llama.detokenize([int(i)], special=True).decode("utf-8", "ignore"): float(row[i]) for i in ids})
        else:
            tops.extend([None] * len(following))
    llama.input_ids[: len(tokens)] = tokens
    llama.n_tokens = len(tokens)
    return logprobs, tops


def char_offsets(llama, tokens: list[int]) -> tuple[list[str], list[int]]:
    """Each token's text and the character offset where it starts in the detokenized prompt."""
    pieces = [llama._model.detokenize([t], special=True) for t in tokens]
    text_bytes = b"".join(pieces)
    char_at_byte = np.zeros(len(text_bytes) + 1, dtype=np.int64)
    position = 0
    for ch in text_bytes.decode("utf-8", "ignore"):
        width = len(ch.encode("utf-8"))
        char_at_byte[position + 1 : position + width + 1] = char_at_byte[position] + 1
        position += width
    offsets, byte = [], 0
    for piece in pieces:
        offsets.append(int(char_at_byte[min(byte, len(text_bytes))]))
        byte += len(piece)
    return [p.decode("utf-8", "replace") for p in pieces], offsets  # part of a split character: U+FFFD


def score(llama, prompt: str, model: str | None, top: int = 0) -> dict[str, Any]:
    """An OpenAI legacy completion whose text is the prompt and whose logprobs cover every prompt token."""
    tokens = prompt_tokens(llama, prompt)
    if len(tokens) >= llama.n_ctx():
        raise ValueError(f"Requested tokens ({len(tokens)}) exceed context window of {llama.n_ctx()}")
    started = time.perf_counter()
    logprobs, tops = next_token_logprobs(llama, tokens, top)
    ms = (time.perf_counter() - started) * 1000  # for people reading the log: programs count the reply's usage
    print(f"codeclm echo: {len(tokens)} prompt tokens scored in {ms:.0f} ms", file=sys.stderr, flush=True)
    texts, offsets = char_offsets(llama, tokens)
    skip = 1 if tokens and tokens[0] == llama.token_bos() and llama._model.add_bos_token() else 0
    return {
        "id": f"{EMBEDDED_ID}{uuid.uuid4().hex}",  # the server's response model keeps only the standard fields
        "object": "text_completion",
        "created": int(time.time()),
        "model": model or llama.model_path,
        "choices": [{
            "text": prompt,
            "index": 0,
            "logprobs": {
                "tokens": texts[skip:],
                "text_offset": offsets[skip:],
                "token_logprobs": [None] + logprobs[skip + 1 :] if skip else logprobs,
                "top_logprobs": [None] + tops[skip + 1 :] if skip else tops,
            },
            "finish_reason": "length",
        }],
        "usage": {"prompt_tokens": len(tokens), "completion_tokens": 0, "total_tokens": len(tokens)},
    }
