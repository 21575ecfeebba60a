"""Read answer-token probabilities from OpenAI-style `logprobs.content[i].top_logprobs`.

With DSPy's ChatAdapter the answer does not come first: it follows the `[[ ## field ## ]]`
header (with JSON adapters, `"field": "`). `answer_position` finds the first token after the
field's header that carries text, so a scheme reads the distribution where the model chose
its answer. Qwen tokenizes "10" as "1", "0": `digit_distribution` splits the mass of "1"
with the next position's P("0") when "1" was the token sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

_NOISE = " \t\r\n\"'`:*"  # what may surround an answer label inside a token


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)  # alternative token -> logprob


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def token_logprobs(logprobs: Any) -> list[TokenLogprob]:
    """Normalize a `choices[0].logprobs` object or dict (or its `content` list) to TokenLogprobs."""
    content = logprobs if isinstance(logprobs, list) else _get(logprobs, "content") if logprobs is not None else None
    tokens = []
    for entry in content or []:
        top: dict[str, float] = {}
        for alt in _get(entry, "top_logprobs") or []:
            token, lp = _get(alt, "token"), _get(alt, "logprob")
            if token is not None and lp is not None:
                top[token] = max(top.get(token, -math.inf), float(lp))
        tokens.append(TokenLogprob(str(_get(entry, "token") or ""), float(_get(entry, "logprob") or 0.0), top))
    return tokens


def answer_position(tokens: list[TokenLogprob], field_name: str) -> int:
    """Index of the first token with text after the output field's header; ValueError if none."""
    text, starts = "", []
    for t in tokens:
        starts.append(len(text))
        text += t.token
    end = -1
    for marker in (f"[[ ## {field_name} ## ]]", f'"{field_name}"'):
        found = text.find(marker)
        if found >= 0:
            end = found + len(marker)
            break
    if end < 0 and "[[ ##" not in text and "{" not in text:
        end = 0  # a plain-text answer (PlainAdapter): the first token with text is the answer
    if end < 0:
        raise ValueError(f"no `{field_name}` field in the judge's answer: {text[:120]!r}")
    for i, t in enumerate(tokens):
        tail = t.token[max(0, end - starts[i]):] if starts[i] < end else t.token
        if starts[i] + len(t.token) > end and tail.strip(_NOISE):
            return i
    raise ValueError(f"the `{field_name}` field of the judge's answer is empty")


def label_distribution(token: TokenLogprob, labels: tuple[str, ...]) -> dict[str, float]:
    """P(label) renormalized over `labels`, from one position's top_logprobs ("A", " A", "\"A" all count).

    ValueError when top_logprobs is empty or holds none of the labels.
    """
    if not token.top:
        raise ValueError("the server returned no top_logprobs (ask with logprobs=true, top_logprobs=20)")
    mass = dict.fromkeys(labels, 0.0)
    for alt, lp in token.top.items():
        key = alt.strip(_NOISE)
        if key in mass:
            mass[key] += math.exp(lp)
    total = sum(mass.values())
    if total <= 0:
        raise ValueError(f"none of {list(labels)} among the top tokens {sorted(token.top)[:8]}")
    return {k: v / total for k, v in mass.items()}


def digit_distribution(tokens: list[TokenLogprob], pos: int, low: int = 1, high: int = 10) -> dict[str, float]:
    """P(score) for low..high (<= 10) at `pos`, renormalized; a split "1","0" counts as 10.

    The next position's distribution is conditional on the sampled token, so the "1" mass is
    split into 1 and 10 only when "1" was sampled; otherwise it stays with 1 (documented bias).
    """
    labels = tuple(str(d) for d in range(low, min(high, 9) + 1))
    probs = label_distribution(tokens[pos], labels + (("10",) if high >= 10 else ()))
    if high >= 10 and "1" in probs and tokens[pos].token.strip(_NOISE) == "1" and pos + 1 < len(tokens):
        after = tokens[pos + 1]
        p_zero = sum(math.exp(lp) for alt, lp in after.top.items() if alt.startswith("0"))
        if not after.top:
            p_zero = 1.0 if after.token.startswith("0") else 0.0
        p_zero = min(1.0, p_zero)
        probs["10"] = probs.get("10", 0.0) + probs["1"] * p_zero
        probs["1"] *= 1.0 - p_zero
    return probs


def expected_score(probs: dict[str, float]) -> float:
    return sum(int(k) * p for k, p in probs.items())
