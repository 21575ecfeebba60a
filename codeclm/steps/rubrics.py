"""Self-Rubrics (paper Sec. 3.2): rubrics and actions per metadata, and Improve, which applies one action."""

from __future__ import annotations

import random

from pydantic import BaseModel, Field

from codeclm.steps.signatures import ImproveSignature, Metadata, RubricsSignature, normalize_phrase
from codeclm.steps.base import Step
from codeclm.steps.decode import clean_instruction, reads_as_instruction


class Rubrics(BaseModel):
    """What makes an instruction of one metadata hard, and one action per rubric to make it so."""

    rubrics: list[str] = Field(min_length=1)
    actions: list[str] = Field(min_length=1)

    def action_order(self, seed: int, key: str) -> list[str]:
        """Actions in a seeded random order: each iteration takes the next, so none repeats."""
        order = list(self.actions)
        random.Random(f"{seed}:{key}").shuffle(order)
        return order

    def rubric_for(self, action: str) -> str | None:
        """The rubric written with `action` (same position), or None when the model gave fewer rubrics."""
        index = self.actions.index(action) if action in self.actions else len(self.rubrics)
        return self.rubrics[index] if index < len(self.rubrics) else None


def _phrases(items: list[str], limit: int) -> list[str]:
    cleaned = [" ".join(clean_instruction(item).split()) for item in items]
    return [c for c in cleaned if len(c.split()) >= 2][:limit]


class SelfRubrics(Step):
    """The strong LLM writes `num_rubrics` rubrics and matching actions for one metadata."""

    name = "rubrics"
    signature = RubricsSignature

    def __init__(self, *args, num_rubrics: int = 4, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_rubrics = num_rubrics

    def forward(self, metadata: Metadata, key: str) -> Rubrics:
        def validate(p) -> Rubrics:
            return Rubrics(rubrics=_phrases(p.rubrics, self.num_rubrics), actions=_phrases(p.actions, self.num_rubrics))

        return self.ask(key, validate, use_case=metadata.use_case, skills=metadata.skills)


class Improve(Step):
    """The strong LLM rewrites an instruction following one action: a harder instruction."""

    name = "improve"
    signature = ImproveSignature

    def forward(self, instruction: str, metadata: Metadata, action: str, key: str) -> str:
        def validate(p) -> str:
            text = clean_instruction(p.improved_instruction)
            if not reads_as_instruction(text):
                raise ValueError(f"not an instruction: {text!r:.120}")
            return text

        return self.ask(
            key,
            validate,
            use_case=metadata.use_case,
            skills=metadata.skills,
            instruction=instruction,
            action=normalize_phrase(action, max_words=60),
        )
