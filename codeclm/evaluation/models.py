"""ROLE_OR_MODEL -> an LM: 'strong' / 'target' / 'judge' name the program's roles; anything else is a model."""

from __future__ import annotations

from contextlib import ExitStack

import dspy

from codeclm.config import ModelSpec, ProgramConfig
from codeclm.models import make_lm, resolve_endpoint

ROLE_NAMES = ("strong", "target", "judge")


def model_spec(value: str, config: ProgramConfig, api_base: str | None = None, api_key_env: str | None = None) -> ModelSpec:
    """A role of the program YAML, `local:NAME` (embedded model) or a model id (e.g. openai/gpt-4o-mini)."""
    if value in ROLE_NAMES:
        roles = config.models
        return getattr(roles, value) or roles.strong  # judge defaults to strong, as in the program
    if value.startswith("local:"):
        return ModelSpec(local=value.removeprefix("local:"))
    return ModelSpec(model=value, api_base=api_base, api_key_env=api_key_env)


def build_eval_lms(specs: dict[str, ModelSpec], stack: ExitStack, source: str) -> dict[str, dspy.BaseLM]:
    """One LM per eval role (candidate / reference / judge); identical specs share one endpoint (one server)."""
    endpoints: dict[str, object] = {}
    lms = {}
    for role, spec in specs.items():
        key = spec.model_dump_json()
        if key not in endpoints:
            endpoints[key] = resolve_endpoint(role, spec, stack, source)
        lms[role] = make_lm(role, spec, endpoints[key])
    return lms
