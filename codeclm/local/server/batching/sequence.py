"""One request in a batch: its prompt tokens, stop strings, token budget and sampler, and what it produced."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from codeclm.local.server.usage import usage_from


@dataclass
class Sequence:
    """A text-only chat request on its way through the batch (``body``: its parsed JSON)."""

    body: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Event = field(default_factory=asyncio.Event)
    prompt: list[int] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    max_tokens: int = 0
    out: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None
    error: tuple[int, str] | None = None
    cancelled: bool = False
    seq_id: int = 0
    pos: int = 0
    sampler: Any = None
    reused: int = 0  # prompt tokens shared from a prefix already in the context
    prompt_ms: float = 0.0
    predicted_ms: float = 0.0

    def finish(self, reason: str | None = None, error: tuple[int, str] | None = None) -> None:
        """Called from the batch's thread: the answer (or the error) is ready for the HTTP handler."""
        self.finish_reason, self.error = reason, error
        self.loop.call_soon_threadsafe(self.done.set)

    @property
    def reserved(self) -> int:
        """Context cells the sequence may fill: its prompt and its whole token budget."""
        return len(self.prompt) + self.max_tokens

    def timings(self) -> dict[str, Any]:
        """llama.cpp's timing fields for this request (its share of each batched step's time)."""
        return {"prompt_n": len(self.prompt) - self.reused, "prompt_ms": round(self.prompt_ms, 2),
                "predicted_n": len(self.out), "predicted_ms": round(self.predicted_ms, 2), "cache_n": self.reused}

    def usage(self) -> dict[str, Any]:
        return usage_from(self.timings(), len(self.prompt), len(self.out))


class Prompter:
    """Turns a request into a sequence ready to run on ``llama``: the model's chat template, its stop
    strings, the token budget and llama.cpp's sampler chain for the request's parameters."""

    def __init__(self) -> None:
        self._formatter = None

    def prepare(self, llama, seq: Sequence) -> tuple[int, str] | None:
        """Fill in the sequence's prompt, stop strings, budget and sampler; an error instead when it cannot run."""
        from llama_cpp import llama_chat_format

        if self._formatter is None:
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                return 400, "this model has no chat template in its metadata"
            eos, bos = llama.token_eos(), llama.token_bos()
            self._formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template, eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llama._model.token_get_text(bos) if bos != -1 else "", stop_token_ids=[eos])
        body = seq.body
        formatted = self._formatter(messages=body["messages"])
        seq.prompt = llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        stop = body.get("stop") or []
        seq.stop = [s for s in ([stop] if isinstance(stop, str) else list(stop)) + _as_list(formatted.stop) if s]
        window = llama._n_ctx
        seq.max_tokens = int(body.get("max_tokens") or 0) or window - len(seq.prompt)
        if len(seq.prompt) + seq.max_tokens > window:
            return 400, f"Requested tokens ({len(seq.prompt) + seq.max_tokens}) exceed context window of {window}"
        seq.sampler = sampler(llama, sampling_parameters(body))
        return None


def sampling_parameters(body: dict[str, Any]) -> dict[str, Any]:
    """The request's sampling parameters, with llama-cpp-python's server defaults (its request model's
    fields: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat penalty 1.1) where a value is
    missing or null."""
    from llama_cpp.server.types import CreateChatCompletionRequest

    fields = CreateChatCompletionRequest.model_fields
    names = ("temperature", "top_p", "min_p", "top_k", "repeat_penalty", "frequency_penalty", "presence_penalty")
    params = {name: fields[name].default for name in names}
    params.update({k: v for k, v in body.items() if v is not None})
    return params


def sampler(llama, p: dict[str, Any]):
    """llama-cpp-python's sampler chain for these parameters (Llama._init_sampler, without grammar or mirostat)."""
    from llama_cpp import _internals

    chain = _internals.LlamaSampler()
    chain.add_penalties(n_vocab=llama._n_vocab, penalty_last_n=llama.last_n_tokens_size,
                        penalty_repeat=float(p["repeat_penalty"]), penalty_freq=float(p["frequency_penalty"]),
                        penalty_present=float(p["presence_penalty"]))
    temperature = float(p["temperature"])
    seed = p["seed"] & 0xFFFFFFFF if isinstance(p.get("seed"), int) else random.getrandbits(32)
    if temperature < 0:
        chain.add_dist(seed)
    elif temperature == 0:
        chain.add_greedy()
    else:
        chain.add_top_k(int(p["top_k"]))
        chain.add_typical(1.0, 1)
        chain.add_top_p(float(p["top_p"]), 1)
        chain.add_min_p(float(p["min_p"]), 1)
        chain.add_temp(temperature)
        chain.add_dist(seed)
    return chain


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)
