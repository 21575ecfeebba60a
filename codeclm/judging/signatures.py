"""Typed DSPy signatures of the judging schemes (instructions come from prompts/judge*.jinja)."""

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


class JudgeSignature(dspy.Signature):
    """Rate two answers to the instruction from 1 to 10 (scheme pairwise-1-10, the paper's judge)."""

    instruction: str = dspy.InputField()
    answer_1: str = dspy.InputField(desc="Assistant 1's answer")
    answer_2: str = dspy.InputField(desc="Assistant 2's answer")
    score_1: int = dspy.OutputField(desc="Assistant 1's score, an integer from 1 to 10")
    score_2: int = dspy.OutputField(desc="Assistant 2's score, an integer from 1 to 10")
    explanation: str = dspy.OutputField(desc="a brief justification")
