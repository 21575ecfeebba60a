"""Typed DSPy signatures of the baseline steps; their instructions come from prompts/*.jinja."""

from __future__ import annotations

import dspy


class SelfInstructSignature(dspy.Signature):
    """Come up with new, diverse task instructions like the examples."""

    examples: list[str] = dspy.InputField(desc="example task instructions")
    new_instructions: list[str] = dspy.OutputField(desc="new, self-contained task instructions")


class EvolDepthSignature(dspy.Signature):
    """Rewrite the prompt into a more complex version with the named method."""

    instruction: str = dspy.InputField(desc="#The Given Prompt#")
    method: str = dspy.InputField(desc="the name of the method to apply")
    evolved_instruction: str = dspy.OutputField(desc="#The Rewritten Prompt#")


class EvolBreadthSignature(dspy.Signature):
    """Draw inspiration from the prompt to create a brand new, rarer prompt in the same domain."""

    instruction: str = dspy.InputField(desc="#The Given Prompt#")
    created_instruction: str = dspy.OutputField(desc="#The Created Prompt#")
