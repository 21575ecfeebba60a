"""Where a model's calls go, decided in one place: the direct httpx path or litellm, and under `--executor batch`
which provider batch API takes them.

OpenAI-compatible model ids (no provider prefix, or ``openai/``: llama.cpp, vLLM, TGI, Ollama, OpenAI) take the
direct path (``http.py``); other providers (``anthropic/...``, ``gemini/...``) go through litellm. The engine
asks `route(model)` for an LM it is given; a program's ModelSpec asks it once for its whole route
(`ModelSpec.route`, codeclm.models.config). This module sits in the engine because the engine is below the
models folder: both can import it, nothing here imports back up.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Route:
    """One model's route. `batch_refused`: why the batch API its spec asks for cannot take it (said when a batch
    executor is built, never before: a run on threads does not care)."""

    model: str  # the provider-prefixed id litellm takes: 'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest'
    direct: bool  # an OpenAI-compatible endpoint: the direct httpx path; else litellm
    batch: str | None = None  # 'openai' / 'anthropic': the batch API of `--executor batch`; None: called directly
    batch_refused: str | None = None


def route(model: str, *, local: bool = False, api_base: str | None = None, batch_api: str = "auto") -> Route:
    """The route of `model` (an embedded `local` model's name, or an endpoint's model id at `api_base`).

    `batch_api`: auto (OpenAI models at api.openai.com -> openai, anthropic/ models -> anthropic, any other endpoint
    and every embedded model: none), openai (any server with OpenAI's /files and /batches), anthropic, or none.
    """
    litellm_id = f"openai/{model}" if local or "/" not in model else model
    direct = litellm_id.startswith("openai/")
    if batch_api == "none":
        return Route(litellm_id, direct)
    if batch_api == "auto":
        if local:
            return Route(litellm_id, direct)
        host = urlsplit(api_base).hostname if api_base else None
        if model.startswith("anthropic/"):
            return Route(litellm_id, direct, "anthropic")
        return Route(litellm_id, direct, "openai" if direct and host in (None, "api.openai.com") else None)
    if local:
        refused = f"{batch_api}: an embedded local model has no batch API; remove batch_api (auto) or set it to none"
    elif batch_api == "anthropic" and not model.startswith("anthropic/"):
        refused = f"anthropic needs an anthropic/ model id, got {model!r}"
    elif batch_api == "openai" and not direct:
        refused = f"openai needs an OpenAI-compatible model id (no provider prefix, or openai/), got {model!r}"
    else:
        return Route(litellm_id, direct, batch_api)
    return Route(litellm_id, direct, None, refused)
