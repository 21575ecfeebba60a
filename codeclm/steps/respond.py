"""Respond: one LLM (the strong or the target) answers an instruction."""

from __future__ import annotations

from codeclm.adapters import PlainAdapter
from codeclm.signatures import RespondSignature
from codeclm.step import Step


def _non_empty(prediction) -> str:
    text = str(prediction.response).strip()
    if not text:
        raise ValueError("empty response")
    return text


class Respond(Step):
    """Answer an instruction with this step's LM (its role: strong or target)."""

    name = "respond"
    signature = RespondSignature
    adapter = PlainAdapter()  # the instruction as the user message, the reply as the response

    def __init__(self, *args, role: str = "strong", **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role

    def forward(self, instruction: str, key: str) -> str:
        return self.ask((self.role, key), _non_empty, instruction=instruction)
