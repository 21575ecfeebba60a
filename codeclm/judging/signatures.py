"""Typed DSPy signatures of the log-probability judging schemes (instructions come from prompts/judge_*.jinja)."""

from __future__ import annotations

from typing import Literal

import dspy


class PreferenceSignature(dspy.Signature):
    """Which answer follows the instruction better? Answer with one letter: A or B."""

    instruction: str = dspy.InputField(desc="user instruction")
    answer_a: str = dspy.InputField(desc="answer A")
    answer_b: str = dspy.InputField(desc="answer B")
    preferred: Literal["A", "B"] = dspy.OutputField(desc="Which answer is better? Reply with one letter, A or B.")


class PointwiseSignature(dspy.Signature):
    """Rate the answer to the instruction from 1 to 10."""

    instruction: str = dspy.InputField(desc="user instruction")
    answer: str = dspy.InputField(desc="answer")
    rating: int = dspy.OutputField(desc="Rate the answer from 1 to 10. Reply with the number only.")
