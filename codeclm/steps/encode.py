"""Encode (paper Sec. 3.1): seed instruction -> metadata (one use case, up to 3 skills)."""

from __future__ import annotations

from codeclm.steps.signatures import EncodeSignature, Metadata
from codeclm.steps.base import Step


class Encode(Step):
    """The strong LLM names the use case and the skills an instruction needs."""

    name = "encode"
    signature = EncodeSignature

    def forward(self, instruction: str, key: str) -> Metadata:
        return self.ask(
            key,
            lambda p: Metadata(use_case=p.use_case, skills=p.skills),
            instruction=instruction,
        )
