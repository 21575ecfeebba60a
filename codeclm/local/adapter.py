"""A JSONAdapter for llama-cpp-python servers: JSON mode with a schema instead of ``json_schema``.

llama-cpp-python 0.3.36 answers ``response_format={"type": "json_schema", ...}`` with HTTP 500 but
constrains decoding to ``{"type": "json_object", "schema": {...}}``, which small local models need.
"""

from __future__ import annotations

import logging

import dspy
import pydantic
from dspy.adapters.json_adapter import _get_structured_outputs_response_format, _has_open_ended_mapping

log = logging.getLogger(__name__)


def output_schema(signature) -> dict | None:
    """The JSON schema of the signature's output fields, or None when it cannot be built."""
    if _has_open_ended_mapping(signature):
        return None
    try:
        return _get_structured_outputs_response_format(signature).model_json_schema()
    except (ValueError, pydantic.PydanticInvalidForJsonSchema, pydantic.PydanticSchemaGenerationError):
        log.warning("no JSON schema for %s; using plain JSON mode", signature.__name__)
        return None


class LocalJSONAdapter(dspy.JSONAdapter):
    """Send ``{"type": "json_object", "schema": <output schema>}`` (grammar-constrained on llama.cpp)."""

    def _prepare_response_format(self, lm, lm_kwargs, signature):
        schema = output_schema(signature)
        lm_kwargs["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
