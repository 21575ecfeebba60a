"""Roles (strong / target / judge) -> LMs: an embedded local server or any OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

import dspy

from codeclm.config import ModelSpec, ProgramConfig
from codeclm.errors import ConfigError

ROLES = ("strong", "target", "judge")


@dataclass(frozen=True)
class Endpoint:
    """Where a role's requests go. `api_key` is read from the environment, never from files."""

    model: str
    api_base: str | None
    api_key: str | None
    label: str


def litellm_model(model: str) -> str:
    """'gpt-4o-mini' -> 'openai/gpt-4o-mini' (any OpenAI-compatible server); provider prefixes kept."""
    return model if "/" in model else f"openai/{model}"


def resolve_endpoint(role: str, spec: ModelSpec, stack: ExitStack, source: str = "program") -> Endpoint:
    """Find (or start, for `local:` models) the endpoint of one role."""
    if spec.local:
        from codeclm.local import open_endpoint

        found = open_endpoint(spec.local, stack)
        return Endpoint(model=f"openai/{found.model}", api_base=found.api_base, api_key="local", label=spec.label)
    api_key = None
    if spec.api_key_env:
        api_key = os.environ.get(spec.api_key_env)
        if not api_key:
            raise ConfigError(f"{source}: models.{role}.api_key_env: environment variable {spec.api_key_env} is not set")
    return Endpoint(model=litellm_model(spec.model or ""), api_base=spec.api_base, api_key=api_key, label=spec.label)


def make_lm(role: str, spec: ModelSpec, endpoint: Endpoint) -> dspy.BaseLM:
    """One role's LM. Calls go through litellm so that cassettes can record them."""
    return dspy.LM(
        endpoint.model,
        api_base=endpoint.api_base,
        api_key=endpoint.api_key or "none",
        engine="litellm",
        cache=False,
        num_retries=0,
        timeout=spec.timeout,
    )


def build_lms(config: ProgramConfig, stack: ExitStack) -> dict[str, dspy.BaseLM]:
    """LMs for every role; the judge defaults to the strong model (the paper uses one strong LLM)."""
    source = str(config.base_dir)
    specs = {"strong": config.models.strong, "target": config.models.target, "judge": config.models.judge or config.models.strong}
    endpoints: dict[str, Endpoint] = {}
    lms = {}
    for role in ROLES:
        spec = specs[role]
        key = spec.model_dump_json()  # one server / endpoint per distinct spec, shared by roles
        if key not in endpoints:
            endpoints[key] = resolve_endpoint(role, spec, stack, source)
        lms[role] = make_lm(role, spec, endpoints[key])
    return lms
