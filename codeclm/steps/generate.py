"""Generate new instructions from example instructions (Self-Instruct's step; CodecLM's no-metadata ablation)."""

from __future__ import annotations

from codeclm.steps.signatures import SelfInstructSignature
from codeclm.steps.base import Step


def _instructions(prediction) -> list[str]:
    items = [" ".join(str(x).split()) for x in (prediction.new_instructions or [])]
    items = [x for x in items if x]
    if not items:
        raise ValueError("no instructions in the answer")
    return items


class GenerateInstructions(Step):
    """Examples from the pool in, new instructions out (prompts/self_instruct.jinja)."""

    name = "self_instruct"
    signature = SelfInstructSignature

    def __init__(self, *args, num: int = 4, **kwargs):
        super().__init__(*args, **kwargs)
        self.num = num

    def forward(self, examples: list[str], key: str) -> list[str]:
        return self.ask(key, _instructions, examples=examples)[: self.num]
