"""Typed DSPy signatures of the log-probability judging schemes (instructions come from prompts/judge_*.jinja)."""

from __future__ import annotations

from typing import Literal

import dspy


class PreferenceSignature(dspy.Signature):
    """Which answer follows the instruction better? Answer with one letter: A or B."""

    instruction: str = dspy.InputField()
    answer_a: str = dspy.InputField(desc="answer A")
    answer_b: str = dspy.InputField(desc="answer B")
    preferred: Literal["A", "B"] = dspy.OutputField(desc="the better answer: A or B")


class PointwiseSignature(dspy.Signature):
    """Rate the answer to the instruction from 1 to 10."""

    instruction: str = dspy.InputField()
    answer: str = dspy.InputField()
    rating: int = dspy.OutputField(desc="an integer from 1 to 10")
