"""A fake LM for module-logic tests: answers each step by a function of its inputs, no network.

`ScriptedLM` learns which step calls it from `codeclm.steps.base.ACTIVE_STEP` (the step sets it), never
from the rendered prompt. Stub-server tests see only the wire, as a real server does; they
recognise a request's step from its body with `step_from_request`.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

import dspy
import litellm

STEP_BY_FIELD = {
    "use_case": "encode",  # checked after the more specific fields below
    "new_instructions": "decode",
    "actions": "rubrics",
    "improved_instruction": "improve",
    "response": "respond",
    "score_1": "judge",
    "preferred": "judge",  # logprob-pairwise judge
    "rating": "judge",  # pointwise-logprob judge
}


# Plain-text judges (codeclm.steps.adapters) label inputs by their descriptions.
_PLAIN_LABELS = {"instruction": "User instruction", "answer_a": "Answer A", "answer_b": "Answer B", "answer": "Answer"}


def is_plain(messages: list[dict[str, Any]]) -> bool:
    return "[[ ##" not in messages[0]["content"]


def step_from_request(messages: list[dict[str, Any]]) -> str:
    """The step of a request as it arrives at a server (for stub servers only)."""
    system = messages[0]["content"]
    if is_plain(messages):  # plain adapter: the log-probability judges and Respond
        last = messages[-1]["content"]
        return "judge" if ("Reply with one letter" in last or "Rate the answer" in last) else "respond"
    outputs = system.split("Your output fields are:", 1)[-1].split("All interactions", 1)[0]
    for field in ("improved_instruction", "score_1", "preferred", "rating", "actions", "new_instructions", "response", "use_case"):
        if f"`{field}`" in outputs:
            return STEP_BY_FIELD[field]
    raise AssertionError(f"unknown step for prompt: {system[:200]}")


# Pairwise-judge scripts read answer_1/answer_2; the logprob-pairwise judge calls them answer_a/answer_b.
_ALIASES = {"answer_1": "answer_a", "answer_2": "answer_b"}


def field_value(messages: list[dict[str, Any]], name: str) -> str:
    """The value of input field `name` in the last user message."""
    text = messages[-1]["content"]
    if is_plain(messages) and name == "instruction" and "User instruction:\n" not in text:
        return text.strip()  # Respond sends the instruction alone
    if is_plain(messages):
        return _plain_value(text, _PLAIN_LABELS[_ALIASES.get(name, name) if name in _ALIASES and f"{_PLAIN_LABELS[_ALIASES[name]]}:" in text else name])
    if f"[[ ## {name} ## ]]" not in text and f"[[ ## {_ALIASES.get(name)} ## ]]" in text:
        name = _ALIASES[name]
    start = text.index(f"[[ ## {name} ## ]]") + len(f"[[ ## {name} ## ]]")
    ends = [i for i in (text.find("[[ ##", start), text.find("\n\nRespond with the corresponding", start)) if i >= 0]
    return text[start:min(ends) if ends else None].strip()


def _plain_value(text: str, label: str) -> str:
    start = text.index(f"{label}:\n") + len(label) + 2
    ends = [text.find(f"\n\n{other}:\n", start) for other in _PLAIN_LABELS.values()]
    ends = [e for e in ends if e >= 0] + [text.rfind("\n\n")]
    return text[start:min(e for e in ends if e >= start)].strip()


def to_plain(answer: Any) -> Any:
    """A scripted chat-format answer as a plain-text judge's reply: the field value alone."""
    if isinstance(answer, WithLogprobs):
        content = [t for t in answer.content if t["top_logprobs"]] or answer.content
        return WithLogprobs(to_plain(answer.answer), content)
    if isinstance(answer, dict):
        return str(next(iter(answer.values())))
    if isinstance(answer, str) and answer.startswith("[[ ##"):
        return answer.split("]]", 1)[1].split("[[ ##", 1)[0].strip()
    return answer


def chat_answer(fields: dict[str, Any]) -> str:
    parts = []
    for name, value in fields.items():
        rendered = value if isinstance(value, str) else json.dumps(value)
        parts.append(f"[[ ## {name} ## ]]\n{rendered}")
    return "\n\n".join(parts + ["[[ ## completed ## ]]"])


class WithLogprobs:
    """A scripted answer that also carries `logprobs.content` (a list of {token, logprob, top_logprobs})."""

    def __init__(self, answer: Any, content: list[dict[str, Any]]):
        self.answer, self.content = answer, content


def logprob_tokens(text: str, choice_at: str, top: dict[str, float]) -> list[dict[str, Any]]:
    """`text` split at `choice_at` into tokens; the token `choice_at` gets `top` as its alternatives."""
    before, _, after = text.partition(choice_at)
    tokens = [{"token": before, "logprob": 0.0, "top_logprobs": []}] if before else []
    tokens.append({"token": choice_at, "logprob": top.get(choice_at, -0.1),
                   "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top.items()]})
    return tokens + ([{"token": after, "logprob": 0.0, "top_logprobs": []}] if after else [])


def as_preference(scores: dict[str, Any]) -> WithLogprobs:
    """A pairwise 1-10 script answer turned into a logprob-pairwise one: P(A) = sigmoid(score_1 - score_2)."""
    import math

    p_a = 1 / (1 + math.exp(float(scores["score_2"]) - float(scores["score_1"])))
    label = "A" if p_a >= 0.5 else "B"
    text = chat_answer({"preferred": label})
    return WithLogprobs(text, logprob_tokens(text, label, {"A": math.log(max(p_a, 1e-12)), "B": math.log(max(1 - p_a, 1e-12))}))


class Cut:
    """A scripted answer the endpoint cut off at the token cap (finish_reason "length")."""

    def __init__(self, answer: Any):
        self.answer = answer


def word_scores(logprob_of: Callable[[str, str], float]) -> Callable[[str], Any]:
    """A fake `score`: whitespace tokens of the text, each with `logprob_of(text, token)` (the first: None)."""
    from codeclm.engine.score import ScoredText

    def score(text: str):
        import re

        spans = [(m.group(), m.start()) for m in re.finditer(r"\S+", text)]
        logprobs = [None] + [logprob_of(text, token) for token, _ in spans[1:]]
        return ScoredText(tokens=[t for t, _ in spans], logprobs=logprobs, offsets=[o for _, o in spans])

    return score


class ScriptedLM(dspy.BaseLM):
    """Answers through `script(step, messages) -> dict | str | Cut`; records every call. With `scorer`
    (see `word_scores`) it also scores texts, as a target under the target-loss scheme does."""

    def __init__(self, script: Callable[[str, list[dict[str, Any]]], Any], model: str = "fake/model", scorer=None):
        super().__init__(model=model, cache=False)
        self.script = script
        self.scorer = scorer
        self.scored: list[str] = []
        self.calls: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def forward(self, prompt=None, messages=None, **kwargs):
        from codeclm.steps.adapters import PlainAdapter
        from codeclm.steps.base import ACTIVE_STEP

        active = ACTIVE_STEP.get()
        assert active is not None, "ScriptedLM called outside a codeclm step"
        step, plain = active.name, isinstance(active.adapter, PlainAdapter)
        with self._lock:
            self.calls.append((step, messages, kwargs))
        answer = self.script(step, messages)
        finish = "stop"
        if isinstance(answer, Cut):
            answer, finish = answer.answer, "length"
        logprobs = None
        if isinstance(answer, dict) and "score_1" in answer and getattr(active, "scheme", "") == "logprob-pairwise":
            answer = as_preference(answer)
        if plain:
            answer = to_plain(answer)
        if isinstance(answer, WithLogprobs):
            answer, logprobs = answer.answer, {"content": answer.content}
        content = answer if isinstance(answer, str) else chat_answer(answer)
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
        if logprobs is not None:
            choice["logprobs"] = logprobs
        return litellm.ModelResponse(
            model=self.model,
            choices=[choice],
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        )

    def _process_completion(self, response, merged_kwargs):
        from codeclm.engine.lm import with_finish_reasons

        return with_finish_reasons(response, super()._process_completion(response, merged_kwargs))

    def score(self, text: str):
        assert self.scorer is not None, "this fake LM has no scorer (ScriptedLM(..., scorer=word_scores(...)))"
        with self._lock:
            self.scored.append(text)
        return self.scorer(text)

    def steps(self) -> list[str]:
        return [c[0] for c in self.calls]
