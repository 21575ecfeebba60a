"""Prompt scoring: the target model's log-probability of every token of a text.

One ``POST /completions`` with ``echo: true, logprobs: 0, max_tokens: 1, temperature: 0``
returns the prompt's own tokens with their log-probabilities in the OpenAI legacy
``choices[0].logprobs`` fields ``tokens``, ``token_logprobs`` and ``text_offset``
(llama-cpp-python 0.3.36 and vLLM answer this; the first token's logprob is null).
The one generated token, which starts at or past the end of the text, is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codeclm.engine.failures import HTTPStatusFailure
from codeclm.engine.reply import ZERO_USAGE
from codeclm.errors import PromptScoringUnsupportedError

SCORE_PATH = "/completions"
SCORE_PARAMS = {"max_tokens": 1, "echo": True, "logprobs": 0, "temperature": 0}
SCORE_MARKER = {"request": "score-prompt-logprobs", **SCORE_PARAMS}  # in the cache key, never on the wire
SCORE_FIX = ("use an endpoint that returns prompt log-probabilities, e.g. llama.cpp or vLLM, "
             "or another judging scheme")
_UNSUPPORTED_STATUS = frozenset({404, 405, 501})


@dataclass(frozen=True)
class ScoredText:
    """``tokens[i]`` starts at ``text[offsets[i]]`` and has log-probability ``logprobs[i]``
    given everything before it (None for the first token, which has no context)."""

    tokens: list[str]
    logprobs: list[float | None]
    offsets: list[int]
    usage: dict[str, Any] = field(default_factory=dict)
    cache_hit: bool = False

    def span_logprob(self, start: int = 0, end: int | None = None) -> float:
        """Sum of the known logprobs of the tokens starting in ``text[start:end]``."""
        stop = float("inf") if end is None else end
        return sum(lp for lp, at in zip(self.logprobs, self.offsets) if start <= at < stop and lp is not None)


def score_body(wire_model: str, text: str) -> dict[str, Any]:
    """The JSON body of a scoring request."""
    return {"model": wire_model, "prompt": text, **SCORE_PARAMS}


def scored_text(reply: Any, text: str, *, cache_hit: bool = False) -> ScoredText:
    """The prompt's tokens from a ``/completions`` reply; PromptScoringUnsupportedError if it has none."""
    choices = reply.get("choices") if isinstance(reply, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    logprobs = first.get("logprobs") if isinstance(first, dict) else None
    fields = [logprobs.get(name) if isinstance(logprobs, dict) else None
              for name in ("tokens", "token_logprobs", "text_offset")]
    if not all(isinstance(f, list) for f in fields) or len({len(f) for f in fields}) != 1 or not fields[0]:
        raise PromptScoringUnsupportedError("the reply carries no prompt log-probabilities "
                                            "(choices[0].logprobs.tokens / token_logprobs / text_offset)")
    kept = [(t, lp, at) for t, lp, at in zip(*fields) if isinstance(at, int) and at < len(text)]
    tokens, logprobs_, offsets = (list(column) for column in zip(*kept)) if kept else ([], [], [])
    usage = dict(ZERO_USAGE) if cache_hit else dict(reply.get("usage") or {})
    return ScoredText(tokens, [None if lp is None else float(lp) for lp in logprobs_], offsets, usage, cache_hit)


def unsupported(failure: Exception) -> bool:
    """Whether an HTTP failure of a scoring request means the endpoint cannot score prompts."""
    if not isinstance(failure, HTTPStatusFailure):
        return False
    text = failure.message.lower()
    return failure.status in _UNSUPPORTED_STATUS or (
        400 <= failure.status <= 599 and any(word in text for word in ("logprob", "echo")))
