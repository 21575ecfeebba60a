"""A plain-text DSPy adapter: no `[[ ## field ## ]]` scaffolding, for one-output steps.

Used where the reply itself is the value: Respond (an answer should be the model's natural
answer to the instruction, not its skill at DSPy's format; SmolLM2-135M often breaks that
format) and the log-probability judges (small models read a plain "Instruction / Answer A /
Answer B / question" prompt far better, and the answer token comes first, which is where the
scheme reads its distribution). Instructions still come from the signature, so from the
template, and optimizers can tune them; the final question is the output field's description.
A signature with one input field sends that value alone as the user message.
"""

from __future__ import annotations

import re
from typing import Any

import dspy
from dspy.adapters.utils import parse_value


class PlainAdapter(dspy.Adapter):
    """Formats input fields as labelled paragraphs; parses the whole reply into the one output field."""

    def format_system_message(self, signature) -> str:
        return signature.instructions

    def format_field_description(self, signature) -> str:
        return ""

    def format_field_structure(self, signature) -> str:
        return ""

    def format_task_description(self, signature) -> str:
        return signature.instructions

    def format_user_message_content(self, signature, inputs: dict[str, Any], prefix: str = "", suffix: str = "", main_request: bool = False) -> str:
        parts = [prefix] if prefix else []
        if len(signature.input_fields) == 1:
            (name,) = signature.input_fields
            parts.append(str(inputs.get(name, "")))
        for name, field in signature.input_fields.items() if len(signature.input_fields) > 1 else ():
            if name in inputs:
                label = (field.json_schema_extra or {}).get("desc") or name.replace("_", " ")
                label = label if label and not label.startswith("${") else name.replace("_", " ")
                parts.append(f"{label[:1].upper()}{label[1:]}:\n{inputs[name]}")
        if main_request:
            (output,) = signature.output_fields.values()
            question = (output.json_schema_extra or {}).get("desc", "") or ""
            parts.append("" if question.startswith("${") else question)
        if suffix:
            parts.append(suffix)
        return "\n\n".join(p for p in parts if p)

    def format_assistant_message_content(self, signature, outputs: dict[str, Any], missing_field_message=None) -> str:
        (name,) = signature.output_fields
        return str(outputs.get(name, missing_field_message or ""))

    def _call_postprocess(self, processed_signature, original_signature, outputs, lm, lm_kwargs):
        """DSPy's values, plus what the endpoint said about each reply (finish_reason, completion_tokens)."""
        values = super()._call_postprocess(processed_signature, original_signature, outputs, lm, lm_kwargs)
        for value, output in zip(values, outputs):
            if isinstance(output, dict):
                value.update({k: output[k] for k in ("finish_reason", "completion_tokens") if output.get(k) is not None})
        return values

    def parse(self, signature, completion: str) -> dict[str, Any]:
        (name, field), = signature.output_fields.items()
        if field.annotation is str:
            if not (completion or "").strip():
                raise ValueError("empty reply")
            return {name: completion.strip()}
        match = re.search(r"[A-Za-z0-9]+", completion or "")
        if not match:
            raise ValueError(f"empty judge answer: {completion!r:.80}")
        return {name: parse_value(match.group(0), field.annotation)}
