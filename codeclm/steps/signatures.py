"""Typed DSPy signatures for every CodecLM step, and the pydantic types they carry.

Each signature's docstring is only a fallback: the program replaces it with the
rendered `prompts/<step>.jinja` (see `codeclm.prompting.templates`).
"""

from __future__ import annotations

import re

import dspy
from pydantic import BaseModel, Field, field_validator

MAX_SKILLS = 3


def normalize_phrase(text: str, max_words: int = 4) -> str:
    """Trim, collapse whitespace and strip list markers and quotes from a short phrase."""
    text = re.sub(r"\s+", " ", str(text)).strip().strip("\"'`*-•.").strip()
    text = re.sub(r"^\d+[.)]\s*", "", text)
    return " ".join(text.split(" ")[:max_words])


class Metadata(BaseModel):
    """Encoded instruction metadata (paper Sec. 3.1): one use case and up to 3 skills."""

    use_case: str = Field(min_length=1)
    skills: list[str] = Field(min_length=1, max_length=MAX_SKILLS)

    @field_validator("use_case", mode="before")
    @classmethod
    def _use_case(cls, value: str) -> str:
        return normalize_phrase(value, max_words=6)

    @field_validator("skills", mode="before")
    @classmethod
    def _skills(cls, value: list[str]) -> list[str]:
        if isinstance(value, str):
            value = re.split(r"[,;\n]", value)
        seen: list[str] = []
        for skill in value:
            skill = normalize_phrase(skill).lower()
            if skill and skill not in seen:
                seen.append(skill)
        return seen[:MAX_SKILLS]

    def key(self) -> str:
        return f"{self.use_case.lower()}|{'|'.join(sorted(self.skills))}"


class EncodeSignature(dspy.Signature):
    """Encode an instruction into its use case and the skills needed to answer it."""

    instruction: str = dspy.InputField(desc="a seed instruction")
    use_case: str = dspy.OutputField(desc="the use case, a short phrase")
    skills: list[str] = dspy.OutputField(desc="the skills needed, each 2-3 words")


class DecodeSignature(dspy.Signature):
    """Write new instructions for the use case that require the skills."""

    use_case: str = dspy.InputField()
    skills: list[str] = dspy.InputField()
    new_instructions: list[str] = dspy.OutputField(desc="new, self-contained instructions")


class RubricsSignature(dspy.Signature):
    """Write rubrics that make an instruction of this use case and skills challenging, and matching actions."""

    use_case: str = dspy.InputField()
    skills: list[str] = dspy.InputField()
    rubrics: list[str] = dspy.OutputField(desc="what makes such an instruction hard")
    actions: list[str] = dspy.OutputField(desc="one action per rubric that makes an instruction harder")


class ImproveSignature(dspy.Signature):
    """Rewrite the instruction following the action, keeping its use case."""

    use_case: str = dspy.InputField()
    skills: list[str] = dspy.InputField()
    instruction: str = dspy.InputField()
    action: str = dspy.InputField()
    improved_instruction: str = dspy.OutputField()


class RespondSignature(dspy.Signature):
    """Answer the instruction."""

    instruction: str = dspy.InputField()
    response: str = dspy.OutputField()


class SelfInstructSignature(dspy.Signature):
    """Come up with new, diverse task instructions like the examples."""

    examples: list[str] = dspy.InputField(desc="example task instructions")
    new_instructions: list[str] = dspy.OutputField(desc="new, self-contained task instructions")
