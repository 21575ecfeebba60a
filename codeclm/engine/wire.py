"""What the direct path puts on the wire (which models take it: ``routes.py``): the JSON body of a chat call.

The body is what litellm sends to the same endpoint for the same call (``model`` without
its ``openai/`` prefix, ``messages``, then every set sampling parameter), so cassettes
recorded through litellm replay on the direct path. Connection settings, ``rollout_id``
(cache identity only) and None values never reach it; ``seed`` does.
"""

from __future__ import annotations

from typing import Any

from codeclm.engine.keys import CLIENT_KEYS

CHAT_PATH = "/chat/completions"
# Never sent as body fields: connection settings, cache identity, litellm/DSPy-only options.
_NOT_ON_WIRE = CLIENT_KEYS | {"rollout_id", "model", "messages", "prompt", "stream", "extra_body", "drop_params",
                              "prompt_cache", "model_type", "custom_llm_provider"}


def wire_model(model: str) -> str:
    """The model name the server expects: ``openai/gpt-4o-mini`` -> ``gpt-4o-mini``."""
    return model.removeprefix("openai/")


def chat_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """The ``/chat/completions`` JSON body for ``messages`` with the call's merged ``params``."""
    body: dict[str, Any] = {"messages": messages, "model": wire_model(model)}
    for name, value in params.items():
        if value is not None and name not in _NOT_ON_WIRE:
            body[name] = _response_format(value) if name == "response_format" else value
    body.update(params.get("extra_body") or {})
    return body


def _response_format(value: Any) -> Any:
    """A pydantic class becomes the JSON-schema response format litellm would send."""
    if isinstance(value, type):
        from litellm.llms.base_llm.base_utils import type_to_response_format_param

        return type_to_response_format_param(value)
    return value
