"""Roles -> LMs: which model plays strong / target / judge (or an eval's candidate / reference), on one engine.

`role_specs` is the one place that says the judge defaults to the strong model (as in the
paper). `RoleLMs` resolves each distinct model spec to one endpoint (starting an embedded
local server where the spec says `local:`) and builds every role's LM on the session's engine.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

from codeclm.models.config import ModelSpec, ProgramConfig
from codeclm.engine import Engine, EngineLM, RetryPolicy
from codeclm.engine.routes import route
from codeclm.errors import ConfigError
from codeclm.judging.schemes import SCHEMES

ROLES = ("strong", "target", "judge")


def role_specs(config: ProgramConfig) -> dict[str, ModelSpec]:
    """Each role's model spec; the judge defaults to the strong model."""
    models = config.models
    return {"strong": models.strong, "target": models.target, "judge": models.judge or models.strong}


def same_model(a: ModelSpec, b: ModelSpec) -> bool:
    """Do two roles name one model: the same embedded model, or the same model id at the same endpoint?"""
    if a.local or b.local:
        return a.local == b.local
    return bool(a.model) and a.model == b.model and (a.api_base or "") == (b.api_base or "")


def target_is_strong(config: ProgramConfig) -> bool:
    """The target is the strong model itself: every instruction is too easy by construction (judging/same_model.py)."""
    return same_model(config.models.target, config.models.strong)


def target_chat_template(config: ProgramConfig) -> str:
    """How the target reads a conversation (target-loss scores answers in it): its spec's, else its catalog entry's."""
    spec = config.models.target
    if spec.chat_template:
        return spec.chat_template
    if spec.local:
        from codeclm.local import get_spec

        return get_spec(spec.local).chat_template
    return "chatml"


def role_prices(config: ProgramConfig) -> dict[str, tuple[float, float]]:
    """USD per 1M tokens (in, out) for the roles whose YAML gives prices."""
    return {role: (spec.price_in_per_1m or 0.0, spec.price_out_per_1m or 0.0)
            for role, spec in role_specs(config).items()
            if spec.price_in_per_1m is not None or spec.price_out_per_1m is not None}


def role_batch_discounts(config: ProgramConfig) -> dict[str, float]:
    """Per role, the share taken off its prices for calls answered in a provider batch."""
    return {role: spec.batch_discount for role, spec in role_specs(config).items()}


@dataclass(frozen=True)
class ResolvedEndpoint:
    """Where a role's requests go. `api_key` is read from the environment, never from files."""

    model: str
    api_base: str | None
    api_key: str | None
    label: str
    cache_id: str | None = None  # stable identity for cache keys (an embedded server changes port at each start)
    local: bool = False


def resolve_endpoint(role: str, spec: ModelSpec, stack: ExitStack, source: str, logprobs: bool = False) -> ResolvedEndpoint:
    """Find (or start, for `local:` models) the endpoint of one role. `source` names the YAML in errors;
    `logprobs`: a local server must return log-probabilities of generated tokens (LLM-judge logprob schemes)."""
    if spec.local:
        from codeclm.local import get_spec, open_endpoint

        found = open_endpoint(spec.local, stack, logprobs=logprobs)
        return ResolvedEndpoint(model=route(found.model, local=True).model, api_base=found.api_base, api_key="local",
                                label=spec.label, cache_id=f"local:{spec.local}@{get_spec(spec.local).sha256}", local=True)
    api_key = None
    if spec.api_key_env:
        api_key = os.environ.get(spec.api_key_env)
        if not api_key:
            raise ConfigError(f"{source}: models.{role}.api_key_env: environment variable {spec.api_key_env} is not set; "
                              f"export {spec.api_key_env}=... or point models.{role} at another model")
    return ResolvedEndpoint(model=spec.route.model, api_base=spec.api_base, api_key=api_key, label=spec.label)


LOCAL_TIMEOUT = 600.0  # an embedded server is ours alone: a timeout only guards against a hang


def make_lm(role: str, spec: ModelSpec, endpoint: ResolvedEndpoint, engine: Engine) -> EngineLM:
    """One role's LM: cached, rate-limited per endpoint, retried, counted; the spec's temperature /
    max_tokens, when set, override what a step asks for on this model. Requests to an embedded
    server are streamed, so a timeout or Ctrl-C stops the server's work."""
    timeout = spec.timeout if (not endpoint.local or "timeout" in spec.model_fields_set) else LOCAL_TIMEOUT
    concurrency = spec.max_concurrency
    if endpoint.local and "max_concurrency" not in spec.model_fields_set:
        from codeclm.local import batch_slots_default

        concurrency = batch_slots_default()  # as many requests as the server generates side by side
    lm = EngineLM(
        endpoint.model, api_base=endpoint.api_base, api_key=endpoint.api_key or "none", role=role,
        cache=engine.cache, ledger=engine.ledger, endpoint_id=endpoint.cache_id, stream_for_cancel=endpoint.local,
        transport="direct" if spec.route.direct else "litellm",
        limiter=engine.limiter_for(endpoint.api_base or endpoint.model, concurrency, spec.rpm, spec.tpm,
                                   **({"adaptive": True} if spec.adaptive_concurrency and not endpoint.local else {})),
        retry=RetryPolicy(max_tries=spec.max_tries, base_delay=spec.backoff, timeout=timeout),
        guard=getattr(engine, "guard", None),
    )
    lm.overrides = {k: v for k, v in (("temperature", spec.temperature), ("max_tokens", spec.max_tokens)) if v is not None}
    return lm


class RoleLMs:
    """Builds LMs for roles on one engine; identical model specs share one endpoint (one local server)."""

    def __init__(self, engine: Engine, stack: ExitStack, source: str):
        self.engine, self.stack, self.source = engine, stack, source
        self._endpoints: dict[str, ResolvedEndpoint] = {}
        self._logprobs: dict[str, bool] = {}

    def lm(self, role: str, spec: ModelSpec, logprobs: bool = False) -> EngineLM:
        """`role`'s LM; an endpoint already resolved for the same spec is shared, unless this one needs
        generation log-probabilities that the shared one (a local server started without) cannot give."""
        key = spec.model_dump_json()
        if key not in self._endpoints or (logprobs and spec.local and not self._logprobs.get(key)):
            self._endpoints[key] = resolve_endpoint(role, spec, self.stack, self.source, logprobs=logprobs)
            self._logprobs[key] = logprobs
        return make_lm(role, spec, self._endpoints[key], self.engine)

    def for_program(self, config: ProgramConfig) -> dict[str, EngineLM]:
        """Every role's LM; a local server whose model judges with a logprob scheme returns generation logprobs."""
        specs = role_specs(config)
        judge_logprobs = SCHEMES[config.judging.scheme].logprobs
        needs = {specs["judge"].model_dump_json()} if judge_logprobs else set()
        return {role: self.lm(role, spec, logprobs=spec.model_dump_json() in needs) for role, spec in specs.items()}
