"""Typed DSPy signatures of the Evol-Instruct steps; their instructions come from prompts/evol_*.jinja."""

from __future__ import annotations

import dspy


class EvolDepthSignature(dspy.Signature):
    """Rewrite the prompt into a more complex version with the named method."""

    instruction: str = dspy.InputField(desc="#The Given Prompt#")
    method: str = dspy.InputField(desc="the name of the method to apply")
    evolved_instruction: str = dspy.OutputField(desc="#The Rewritten Prompt#")


class EvolBreadthSignature(dspy.Signature):
    """Draw inspiration from the prompt to create a brand new, rarer prompt in the same domain."""

    instruction: str = dspy.InputField(desc="#The Given Prompt#")
    created_instruction: str = dspy.OutputField(desc="#The Created Prompt#")
