"""Calibration pairs with a known better answer, built from the seeds without human labels.

For each seed the strong model's answer is the better side; the worse side is the same answer
cut to 20% of its words, the answer to another seed (off-topic), or a refusal / empty answer.
Any judge worth using must prefer the strong answer in all of them. Passing is necessary,
not sufficient: these are gross defects, not the subtle gaps Contrastive Filtering is for.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Kind = Literal["truncated", "off_topic", "refusal", "empty"]
REFUSAL = "I'm sorry, but I can't help with that request."
MIN_WORDS = 8  # shorter answers give no meaningful truncation


class CalibrationPair(BaseModel):
    id: str
    kind: Kind
    instruction: str
    better: str
    worse: str


def truncate(answer: str, share: float = 0.2, min_words: int = 3) -> str:
    """The first `share` of the answer's words (at least `min_words`), cut mid-sentence."""
    words = answer.split()
    return " ".join(words[: max(min_words, int(len(words) * share))])


def build_pairs(instructions: list[str], answers: list[str]) -> list[CalibrationPair]:
    """Three pairs per seed: truncated, off-topic, and refusal (even seeds) or empty (odd seeds).

    `answers[i]` is the strong model's answer to `instructions[i]`; needs at least two seeds.
    """
    if len(instructions) != len(answers) or len(instructions) < 2:
        raise ValueError("calibration needs at least two seeds, each with the strong model's answer")
    pairs = []
    n = len(instructions)
    for i, (instruction, answer) in enumerate(zip(instructions, answers)):
        if len(answer.split()) >= MIN_WORDS:
            pairs.append(CalibrationPair(id=f"c{i}-truncated", kind="truncated", instruction=instruction, better=answer, worse=truncate(answer)))
        other = answers[(i + 1) % n]
        if other.strip() != answer.strip():
            pairs.append(CalibrationPair(id=f"c{i}-off_topic", kind="off_topic", instruction=instruction, better=answer, worse=other))
        kind, worse = ("refusal", REFUSAL) if i % 2 == 0 else ("empty", "")
        pairs.append(CalibrationPair(id=f"c{i}-{kind}", kind=kind, instruction=instruction, better=answer, worse=worse))
    return pairs
