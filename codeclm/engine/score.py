"""Prompt scoring: the target model's log-probability of every token of a text.

One ``POST /completions`` with ``echo: true, logprobs: 0, max_tokens: 1, temperature: 0``
returns the prompt's own tokens with their log-probabilities in the OpenAI legacy
``choices[0].logprobs`` fields ``tokens`` and ``token_logprobs`` (codeclm's embedded server and
vLLM answer this; the first token's logprob is null). The one generated token, past the end
of the text, is dropped.

The server's ``text_offset`` is not trusted: vLLM writes a running sum of tokens decoded one
at a time (a token added by the server, such as the BOS, shifts every offset; a character split
across tokens decodes to U+FFFD), and llama-cpp-python's own server decodes special tokens as
empty text. Offsets are found by laying the returned tokens over the text that was sent
(``align``); tokens that do not reassemble that text raise PromptScoringUnsupportedError naming
the fix, never a silent score. Which servers line up, and with which flags: docs/servers.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from codeclm.engine.failures import HTTPStatusFailure
from codeclm.engine.reply import ZERO_USAGE
from codeclm.errors import SCORE_SERVERS, PromptScoringUnsupportedError

SCORE_PATH = "/completions"
SCORE_PARAMS = {"max_tokens": 1, "echo": True, "logprobs": 0, "temperature": 0}
SCORE_MARKER = {"request": "score-prompt-logprobs", **SCORE_PARAMS}  # in the cache key, never on the wire (a stored reply is aligned again when read)
# The one fix text for a target that cannot score prompts (engine errors, filter check, docs/servers.md agree).
SCORE_FIX = (f"use a target served by {SCORE_SERVERS}; llama.cpp's llama-server cannot score prompts "
             "(\"Only no echo is supported\"), or choose an LLM-judge scheme")
PREFIX_CACHING_FIX = ("restart vLLM with --no-enable-prefix-caching (its V1 engine, about 0.7-0.8, cannot return "
                      "prompt log-probabilities with prefix caching on) or use a newer vLLM")
MISALIGNED_FIX = ("llama-cpp-python's own server (python -m llama_cpp.server) writes special tokens such as "
                  "<|im_start|> as empty text and shifts its log-probabilities; " + SCORE_FIX)
_UNSUPPORTED_STATUS = frozenset({404, 405, 501})
_SPECIAL = re.compile(r"<[^<>\s]{1,64}>")  # a server-added BOS as vLLM decodes it: <|begin_of_text|>, <s>, <bos>
_BROKEN = "\ufffd"  # part of a character split across tokens, decoded one token at a time


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


def prompt_logprobs(reply: Any) -> tuple[list[Any], list[Any]]:
    """``(tokens, token_logprobs)`` of a ``/completions`` reply; PromptScoringUnsupportedError if it has none."""
    choices = reply.get("choices") if isinstance(reply, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    logprobs = first.get("logprobs") if isinstance(first, dict) else None
    fields = [logprobs.get(name) if isinstance(logprobs, dict) else None for name in ("tokens", "token_logprobs")]
    if not all(isinstance(f, list) for f in fields) or len(fields[0]) != len(fields[1]) or not fields[0]:
        raise PromptScoringUnsupportedError("the reply carries no prompt log-probabilities "
                                            "(choices[0].logprobs.tokens / token_logprobs)")
    return fields[0], fields[1]


def scored_text(reply: Any, text: str, *, cache_hit: bool = False) -> ScoredText:
    """The prompt's tokens, log-probabilities and offsets in ``text`` from a ``/completions`` reply.

    PromptScoringUnsupportedError if the reply has no prompt log-probabilities, or if its tokens
    do not reassemble ``text`` (then the server scored something else: offsets and values would be wrong).
    """
    tokens, logprobs = prompt_logprobs(reply)
    texts = [t if isinstance(t, str) else "" for t in tokens]
    offsets = align(texts, text)
    if offsets is None:
        raise PromptScoringUnsupportedError(f"its tokens do not reassemble the text sent: {_mismatch(texts, text)}")
    kept = [(t, lp, at) for t, lp, at in zip(texts, logprobs, offsets) if at is not None]
    if _shifted_llama_cpp_python(reply, len(kept)):
        raise PromptScoringUnsupportedError("its log-probabilities are shifted by one token (llama-cpp-python's "
                                            "echo path on a model without a BOS token); its tokens do not reassemble "
                                            "what the model read")
    usage = dict(ZERO_USAGE) if cache_hit else dict(reply.get("usage") or {})
    return ScoredText([t for t, _, _ in kept], [None if lp is None else float(lp) for _, lp, _ in kept],
                      [at for _, _, at in kept], usage, cache_hit)


def align(tokens: list[str], text: str) -> list[int | None] | None:
    """Where each token starts in ``text`` (None: not part of it), or None when they do not reassemble it.

    In order, every token must continue the text where the previous one ended, with three
    allowances, each a way servers decode single tokens: a first token that is not in the text
    and looks like a special token (the BOS a server adds; the same token twice is a doubled
    BOS, refused); leading spaces a SentencePiece decode dropped; and U+FFFD (or empty text,
    from a decode that ignores errors) for part of a character split across tokens (a run of
    such tokens covers one or more non-ASCII characters, and its tokens start where the run
    starts; a run of empty tokens may also cover nothing). Tokens after the end of the text
    (the generated one) get None.
    """
    offsets: list[int | None] = []
    at = 0
    run: int | None = None  # where the current run of split characters starts
    blank = False  # the run holds only empty tokens
    for index, token in enumerate(tokens):
        if at >= len(text) and run is None:
            return offsets + [None] * (len(tokens) - index)
        if index == 0 and _SPECIAL.fullmatch(token) and not text.startswith(token):
            if len(tokens) > 1 and tokens[1] == token:
                return None  # a doubled BOS: the server added one and the text has one
            offsets.append(None)
            continue
        if _BROKEN in token:
            lead, tail = token[:token.index(_BROKEN)], token[token.rindex(_BROKEN) + 1:]
        else:
            lead, tail = (token, None) if token else ("", "")
        if run is not None and (lead or tail is None):  # clean text: the split characters end before it
            found = _after_split(text, at, lead)
            if found is None and blank:
                found = _match(text, at, lead)  # empty tokens that covered nothing (a lone SentencePiece space)
            if found is None:
                if at < len(text) and not _non_ascii(text[at:]):
                    return None
                return offsets + [None] * (len(tokens) - index)  # the text ended inside the run
            at, run = found, None
        if run is None:
            start = _match(text, at, lead)
            if start is None:
                return None
            offsets.append(start)
            at = start + len(lead)
        else:
            offsets.append(run)
        if tail is not None:
            run, blank = (at, True) if run is None else (run, blank)
            blank = blank and not token
            if tail:  # "\ufffd!": the split character, then clean text
                found = _after_split(text, at, tail)
                if found is None:
                    return None
                at, run = found + len(tail), None
    if run is not None and at < len(text):  # the text ends inside the split characters
        if not _non_ascii(text[at:]):
            return None
        at = len(text)
    return offsets if at >= len(text) else None


_UUID_ID = re.compile(r"cmpl-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LLAMA_CPP_PYTHON_CHOICE = frozenset({"text", "index", "logprobs", "finish_reason"})


def _shifted_llama_cpp_python(reply: dict[str, Any], prompt_tokens_returned: int) -> bool:
    """llama-cpp-python's own echo path (``Llama._create_completion``, 0.3.x) pairs token i with the
    distribution that predicts token i+1 unless it removed a leading BOS: its values are right only
    when the server counted exactly one prompt token more than it returned.

    Its replies: a ``cmpl-<uuid4>`` id, choices with only text/index/logprobs/finish_reason, and the
    token it generated counted (or, if that was the end of text, finish_reason "stop"). codeclm's
    embedded server answers with one forward pass and generates nothing (completion_tokens 0,
    finish_reason "length"; an id ``cmpl-codeclm-echo-...`` since this check exists)."""
    choice = reply["choices"][0]
    usage = reply.get("usage") or {}
    if not isinstance(choice, dict) or set(choice) != _LLAMA_CPP_PYTHON_CHOICE:
        return False
    if not _UUID_ID.fullmatch(str(reply.get("id") or "")):
        return False
    if not (usage.get("completion_tokens") or choice.get("finish_reason") == "stop"):
        return False  # nothing generated: codeclm's embedded server
    counted = usage.get("prompt_tokens")
    return isinstance(counted, int) and counted != prompt_tokens_returned + 1


def _match(text: str, at: int, token: str) -> int | None:
    if text.startswith(token, at):
        return at
    stripped = text[at:].lstrip(" ")
    if token and stripped.startswith(token):  # SentencePiece decode dropped a leading space
        return len(text) - len(stripped)
    return None


def _after_split(text: str, at: int, clean: str) -> int | None:
    """Where ``clean`` starts after at least one non-ASCII character from ``at`` (the split ones)."""
    end = at + 1
    while end <= len(text) and _non_ascii(text[at:end]):
        if text.startswith(clean, end):
            return end
        end += 1
    return None


def _non_ascii(part: str) -> bool:
    return bool(part) and all(ord(ch) > 127 for ch in part)


def _mismatch(tokens: list[str], text: str) -> str:
    joined = "".join(tokens)
    common = next((i for i, (a, b) in enumerate(zip(joined, text)) if a != b), min(len(joined), len(text)))
    return (f"at character {common} the server has {joined[common:common + 20]!r} where the text has "
            f"{text[common:common + 20]!r}")


def unsupported(failure: Exception) -> bool:
    """Whether an HTTP failure of a scoring request means the endpoint cannot score prompts."""
    if not isinstance(failure, HTTPStatusFailure):
        return False
    text = failure.message.lower()
    return failure.status in _UNSUPPORTED_STATUS or (
        400 <= failure.status <= 599 and any(word in text for word in ("logprob", "echo")))


def unsupported_fix(reason: str) -> str:
    """The fix for a target that cannot score prompts, given why (vLLM's prefix caching and misaligned
    tokens have their own)."""
    if "prefix caching" in reason.lower():
        return PREFIX_CACHING_FIX
    return MISALIGNED_FIX if "do not reassemble" in reason else SCORE_FIX
