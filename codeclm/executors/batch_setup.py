"""From a program's config to a BatchExecutor: which batch API each role's calls go to, keys from the environment.

`models.<role>.batch_api` decides (default `auto`), through the model's route (codeclm.engine.routes):
OpenAI models at api.openai.com (no `api_base`) go to the OpenAI Batch API, `anthropic/...` models to
Anthropic Message Batches, and every other endpoint (embedded local models, vLLM, llama.cpp) is called
directly in each round. `openai` names any server with OpenAI's `/files` and `/batches` endpoints at the
model's `api_base`.
Keys come from the variable `api_key_env` names (default OPENAI_API_KEY / ANTHROPIC_API_KEY),
never from files, and never reach logs or the batch store.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from codeclm.models.config import ModelSpec, ProgramConfig
from codeclm.errors import ConfigError
from codeclm.executors.batch import BatchExecutor
from codeclm.executors.batch_anthropic import AnthropicBatches
from codeclm.executors.batch_openai import OpenAIBatches
from codeclm.executors.batch_provider import BatchProvider
from codeclm.executors.batch_store import BatchStore
from codeclm.executors.base import Progress
from codeclm.models.roles import role_specs

log = logging.getLogger(__name__)

KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
PROVIDERS = {"openai": OpenAIBatches, "anthropic": AnthropicBatches}


def batch_api(role: str, spec: ModelSpec, source: str) -> str | None:
    """The batch API of one role's model ("openai" / "anthropic"), or None: its calls go out directly.
    ConfigError when its spec asks for a batch API that cannot take it."""
    found = spec.route
    if found.batch_refused:
        raise ConfigError(f"{source}: models.{role}.batch_api: {found.batch_refused}")
    return found.batch


def batch_providers(config: ProgramConfig, **options: Any) -> dict[str, BatchProvider]:
    """Role -> the batch API its calls go to, for roles that have one; roles on one account share a provider."""
    made: dict[tuple[str, str, str], BatchProvider] = {}
    routes: dict[str, BatchProvider] = {}
    for role, spec in role_specs(config).items():
        kind = batch_api(role, spec, config.source)
        if kind is None:
            continue
        env = spec.api_key_env or KEY_ENV[kind]
        key = os.environ.get(env)
        if not key:
            raise ConfigError(f"{config.source}: models.{role}.api_key_env: environment variable {env} is not set; "
                              f"--executor batch sends this model's calls to the {kind} batch API: export {env}=..., "
                              f"or set models.{role}.batch_api: none")
        ident = (kind, spec.api_base or "", env)
        if ident not in made:
            made[ident] = PROVIDERS[kind](key, spec.api_base, **options)
        routes[role] = made[ident]
    return routes


def batch_executor(session, *, progress: Progress | None = None, poll_seconds: float = 30.0) -> BatchExecutor:
    """A BatchExecutor for an open session (`codeclm.programs.session`): its config's routes, its cache file, its ledger.

    Providers and the store close with the session. ConfigError (one line, with the fix) when the
    call cache is off or a key is missing: checked before anything is submitted.
    """
    config, engine = session.config, session.engine
    if engine.cache is None:
        raise ConfigError(f"{config.source}: cache.enabled: --executor batch replays batch replies through the call "
                          "cache; set cache.enabled: true")
    providers = batch_providers(config)
    if not providers:
        log.warning("--executor batch: no model has a batch API (see models.<role>.batch_api); every call goes "
                    "to its endpoint directly")
    store = BatchStore(engine.cache.path)
    session.stack.callback(store.close)
    for provider in {id(p): p for p in providers.values()}.values():
        session.stack.callback(provider.close)
    return BatchExecutor(providers, store, ledger=engine.ledger, concurrency=config.concurrency,
                         poll_seconds=poll_seconds, progress=progress)
