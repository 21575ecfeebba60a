"""Validity of a generated instruction: an instruction (not an answer), of sensible length, new.

Three checks, each a third of the validity part:
- it reads as an instruction: Decode's own validation (at least 3 words, no answer opener
  such as "Sure!", "Here is", "I'm sorry");
- its length is within [min_words, max_words] words (`optimize.min_words`, `max_words`);
- it is new: not a near-duplicate (`codeclm.evaluation.overlap`: a shared 8-word run, or ROUGE-L > 0.7)
  of another instruction generated for the same example, nor of an instruction shown as a
  demo to the chain's steps (copying a demo is not a new instruction).
"""

from __future__ import annotations

from dataclasses import dataclass

from codeclm.evaluation.overlap import OverlapIndex
from codeclm.steps.decode import reads_as_instruction


@dataclass(frozen=True)
class Validity:
    is_instruction: bool
    words: int
    length_ok: bool
    duplicate_of: str | None  # "instruction 2" or "a demo", when it is a near-duplicate

    @property
    def score(self) -> float:
        return (self.is_instruction + self.length_ok + (self.duplicate_of is None)) / 3

    def problems(self, min_words: int, max_words: int) -> list[str]:
        found = []
        if not self.is_instruction:
            found.append("it reads like an answer, not an instruction")
        if not self.length_ok:
            found.append(f"it has {self.words} words, outside {min_words}-{max_words}")
        if self.duplicate_of:
            found.append(f"it is a near-duplicate of {self.duplicate_of}")
        return found


def check_validity(text: str, siblings: dict[str, str], demos: list[str], min_words: int, max_words: int) -> Validity:
    """`siblings`: the other instructions of the same example, by label ("instruction 2"); `demos`: demo instructions."""
    count = len(text.split())
    duplicate = None
    if siblings:
        match = OverlapIndex(list(siblings.values()), list(siblings)).match(text)
        duplicate = match.item_id if match else None
    if duplicate is None and demos and OverlapIndex(demos).match(text):
        duplicate = "a demo"
    return Validity(reads_as_instruction(text), count, min_words <= count <= max_words, duplicate)
