"""Decode (paper Sec. 3.1): metadata -> new instructions that fit the use case and need the skills."""

from __future__ import annotations

import re

from codeclm.steps.signatures import DecodeSignature, Metadata
from codeclm.steps.base import Step

# Openers of an answer, not of an instruction: the model answered the request instead.
_ANSWER_OPENERS = re.compile(r"^(sure|certainly|of course|here (is|are)|as an ai|i'm sorry|i cannot)\b", re.I)


def clean_instruction(text: str) -> str:
    """Strip list numbering, bullets and quotes from one generated instruction."""
    text = re.sub(r"^\s*(\d+[.)]|[-*•]|instruction\s*\d*:)\s*", "", str(text), flags=re.I)
    return text.strip().strip('"').strip()


def reads_as_instruction(text: str) -> bool:
    """At least 3 words and no answer opener ("Sure!", "Here is...", "I'm sorry"): an instruction, not an answer."""
    return len(text.split()) >= 3 and not _ANSWER_OPENERS.match(text)


def valid_instructions(items: list[str], limit: int) -> list[str]:
    """Keep distinct, non-trivial instructions; raise ValueError when none is left."""
    kept: list[str] = []
    for item in items:
        text = clean_instruction(item)
        if reads_as_instruction(text) and text not in kept:
            kept.append(text)
    if not kept:
        raise ValueError(f"no usable instruction in {items!r:.200}")
    return kept[:limit]


class Decode(Step):
    """The strong LLM writes `n` instructions for one metadata."""

    name = "decode"
    signature = DecodeSignature

    def __init__(self, *args, num_instructions: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_instructions = num_instructions

    def forward(self, metadata: Metadata, key: str) -> list[str]:
        return self.ask(
            key,
            lambda p: valid_instructions(p.new_instructions, self.num_instructions),
            use_case=metadata.use_case,
            skills=metadata.skills,
        )
