"""A fake LM for module-logic tests: answers each step by a function of its prompt, no network."""

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
}


def step_of(messages: list[dict[str, Any]]) -> str:
    system = messages[0]["content"]
    outputs = system.split("Your output fields are:", 1)[-1].split("All interactions", 1)[0]
    for field in ("improved_instruction", "score_1", "actions", "new_instructions", "response", "use_case"):
        if f"`{field}`" in outputs:
            return STEP_BY_FIELD[field]
    raise AssertionError(f"unknown step for prompt: {system[:200]}")


def field_value(messages: list[dict[str, Any]], name: str) -> str:
    """The value of input field `name` in the last user message."""
    text = messages[-1]["content"]
    start = text.index(f"[[ ## {name} ## ]]") + len(f"[[ ## {name} ## ]]")
    ends = [i for i in (text.find("[[ ##", start), text.find("\n\nRespond with the corresponding", start)) if i >= 0]
    return text[start:min(ends) if ends else None].strip()


def chat_answer(fields: dict[str, Any]) -> str:
    parts = []
    for name, value in fields.items():
        rendered = value if isinstance(value, str) else json.dumps(value)
        parts.append(f"[[ ## {name} ## ]]\n{rendered}")
    return "\n\n".join(parts + ["[[ ## completed ## ]]"])


class ScriptedLM(dspy.BaseLM):
    """Answers through `script(step, messages) -> dict | str`; records every call."""

    def __init__(self, script: Callable[[str, list[dict[str, Any]]], Any], model: str = "fake/model"):
        super().__init__(model=model, cache=False)
        self.script = script
        self.calls: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def forward(self, prompt=None, messages=None, **kwargs):
        step = step_of(messages)
        with self._lock:
            self.calls.append((step, messages, kwargs))
        answer = self.script(step, messages)
        content = answer if isinstance(answer, str) else chat_answer(answer)
        return litellm.ModelResponse(
            model=self.model,
            choices=[{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        )

    def steps(self) -> list[str]:
        return [c[0] for c in self.calls]
