"""Roles (strong / target / judge) -> LMs: an embedded local server or any OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

import dspy

from codeclm.config import ModelSpec, ProgramConfig
from codeclm.engine import CallCache, EngineLM, RetryPolicy, UsageLedger, limiter_for
from codeclm.errors import ConfigError

ROLES = ("strong", "target", "judge")


@dataclass(frozen=True)
class Endpoint:
    """Where a role's requests go. `api_key` is read from the environment, never from files."""

    model: str
    api_base: str | None
    api_key: str | None
    label: str
    cache_id: str | None = None  # stable endpoint identity for cache keys (local servers change port)


def litellm_model(model: str) -> str:
    """'gpt-4o-mini' -> 'openai/gpt-4o-mini' (any OpenAI-compatible server); provider prefixes kept."""
    return model if "/" in model else f"openai/{model}"


def resolve_endpoint(role: str, spec: ModelSpec, stack: ExitStack, source: str = "program") -> Endpoint:
    """Find (or start, for `local:` models) the endpoint of one role."""
    if spec.local:
        from codeclm.local import open_endpoint

        from codeclm.local import get_spec

        found = open_endpoint(spec.local, stack)
        return Endpoint(model=f"openai/{found.model}", api_base=found.api_base, api_key="local", label=spec.label,
                        cache_id=f"local:{spec.local}@{get_spec(spec.local).sha256}")
    api_key = None
    if spec.api_key_env:
        api_key = os.environ.get(spec.api_key_env)
        if not api_key:
            raise ConfigError(f"{source}: models.{role}.api_key_env: environment variable {spec.api_key_env} is not set")
    return Endpoint(model=litellm_model(spec.model or ""), api_base=spec.api_base, api_key=api_key, label=spec.label)


@dataclass
class Engine:
    """What every role's LM shares in one run: the call cache and the usage ledger."""

    cache: CallCache | None
    ledger: UsageLedger


def open_engine(config: ProgramConfig, stack: ExitStack) -> Engine:
    """The run's call cache (unless disabled) and a ledger priced from the YAML."""
    prices = {}
    for role, spec in role_specs(config).items():
        if spec.price_in_per_1m is not None or spec.price_out_per_1m is not None:
            prices[role] = (spec.price_in_per_1m or 0.0, spec.price_out_per_1m or 0.0)
    cache = None
    if config.cache.enabled:
        cache = CallCache(config.resolve(config.cache.path) if config.cache.path else default_cache_path())
        stack.callback(cache.close)
    return Engine(cache=cache, ledger=UsageLedger(prices))


def default_cache_path():
    from codeclm.local.weights import cache_dir

    return cache_dir() / "calls.sqlite"


def role_specs(config: ProgramConfig) -> dict[str, ModelSpec]:
    models = config.models
    return {"strong": models.strong, "target": models.target, "judge": models.judge or models.strong}


def make_lm(role: str, spec: ModelSpec, endpoint: Endpoint, engine: Engine | None = None) -> EngineLM:
    """One role's LM: cached, rate-limited per endpoint, retried; calls go through litellm (cassettes see them)."""
    return EngineLM(
        endpoint.model,
        api_base=endpoint.api_base,
        api_key=endpoint.api_key or "none",
        role=role,
        cache=engine.cache if engine else None,
        limiter=limiter_for(endpoint.api_base or endpoint.model, spec.max_concurrency, spec.rpm, spec.tpm),
        retry=RetryPolicy(max_tries=spec.max_tries, base_delay=spec.backoff, timeout=spec.timeout),
        ledger=engine.ledger if engine else None,
        endpoint_id=endpoint.cache_id,
    )


def build_lms(config: ProgramConfig, stack: ExitStack, engine: Engine | None = None) -> dict[str, dspy.BaseLM]:
    """LMs for every role; the judge defaults to the strong model (the paper uses one strong LLM)."""
    source = str(config.base_dir)
    specs = role_specs(config)
    endpoints: dict[str, Endpoint] = {}
    lms = {}
    for role in ROLES:
        spec = specs[role]
        key = spec.model_dump_json()  # one server / endpoint per distinct spec, shared by roles
        if key not in endpoints:
            endpoints[key] = resolve_endpoint(role, spec, stack, source)
        lms[role] = make_lm(role, spec, endpoints[key], engine)
    return lms
