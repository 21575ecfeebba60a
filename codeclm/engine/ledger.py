"""Thread-safe usage counters per role (strong, target, judge, ...) and per model."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Mapping

_FIELDS = ("calls", "cache_hits", "retries", "failures", "prompt_tokens", "completion_tokens",
           "cached_prompt_tokens", "batch_calls", "batch_prompt_tokens", "batch_completion_tokens", "seconds",
           "server_prompt_tokens", "server_prompt_seconds", "server_generated_tokens", "server_generation_seconds")
DEFAULT_BATCH_DISCOUNT = 0.5  # OpenAI Batch API and Anthropic Message Batches: half the standard price


@dataclass
class RoleUsage:
    """One role's (or model's) counters. ``calls`` counts answered HTTP calls (not cache hits);
    ``seconds`` is wall time spent on them, retries and backoff included;
    ``cached_prompt_tokens`` are prompt tokens the server reused from an earlier request's
    prefix, where it reports them (OpenAI ``prompt_tokens_details.cached_tokens``,
    llama.cpp ``timings.cache_n``); they are part of ``prompt_tokens``. ``batch_*`` count the calls a
    provider batch answered (OpenAI Batch API, Anthropic Message Batches) and their tokens, which are
    part of ``calls`` / ``prompt_tokens`` / ``completion_tokens`` and priced at the batch discount.
    ``server_*`` are the model's own time, where the server reports it (llama.cpp ``timings``): prompt
    tokens it evaluated and generated tokens, with the milliseconds it spent on each. Calls that
    overlap (concurrency, side-by-side generation) overlap in ``seconds``, not in these."""

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    batch_calls: int = 0
    batch_prompt_tokens: int = 0
    batch_completion_tokens: int = 0
    seconds: float = 0.0
    server_prompt_tokens: int = 0
    server_prompt_seconds: float = 0.0
    server_generated_tokens: int = 0
    server_generation_seconds: float = 0.0


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    """Generated and prompt tokens per second of live call time (None before any timed call; batch
    calls have no call time of their own and are left out)."""
    seconds = row["seconds"]
    live_out = row["completion_tokens"] - row["batch_completion_tokens"]
    live_in = row["prompt_tokens"] - row["batch_prompt_tokens"]
    row["tokens_per_second"] = round(live_out / seconds, 2) if seconds > 0 else None
    row["prompt_tokens_per_second"] = round(live_in / seconds, 2) if seconds > 0 else None
    row["seconds"] = round(seconds, 3)
    for kind, tokens, spent in (("", "server_generated_tokens", "server_generation_seconds"),
                                ("prompt_", "server_prompt_tokens", "server_prompt_seconds")):
        row[f"server_{kind}tokens_per_second"] = round(row[tokens] / row[spent], 2) if row[spent] > 0 else None
        row[spent] = round(row[spent], 3)
    return row


def _timed(timings: Mapping[str, Any] | None) -> tuple[int, float, int, float] | None:
    try:
        return (int(timings["prompt_n"]), float(timings["prompt_ms"]) / 1000,
                int(timings["predicted_n"]), float(timings["predicted_ms"]) / 1000)
    except (KeyError, TypeError, ValueError):
        return None


class UsageLedger:
    """Per-role counters; ``prices`` maps role -> (USD per 1M input, per 1M output tokens) at standard
    rates; ``batch_discounts`` maps role -> the share taken off those prices for batch calls
    (default ``DEFAULT_BATCH_DISCOUNT``)."""

    def __init__(self, prices: Mapping[str, tuple[float, float]] | None = None,
                 batch_discounts: Mapping[str, float] | None = None):
        self.prices = {role: (float(p[0]), float(p[1])) for role, p in (prices or {}).items()}
        self.batch_discounts = {role: float(d) for role, d in (batch_discounts or {}).items()}
        self._roles: dict[str, RoleUsage] = {}
        self._models: dict[str, RoleUsage] = {}
        self._lock = threading.Lock()

    def _rows(self, role: str, model: str | None) -> list[RoleUsage]:
        rows = [self._roles.setdefault(role, RoleUsage())]
        if model:
            rows.append(self._models.setdefault(model, RoleUsage()))
        return rows

    def record_call(self, role: str, *, prompt_tokens: int = 0, completion_tokens: int = 0,
                    cached_prompt_tokens: int = 0, seconds: float = 0.0, model: str | None = None,
                    batch: bool = False, timings: Mapping[str, Any] | None = None) -> None:
        """One answered call; ``batch``: a provider batch answered it (batch prices apply); ``timings``:
        llama.cpp's own counts of the call (prompt_n, prompt_ms, predicted_n, predicted_ms)."""
        timed = _timed(timings)
        with self._lock:
            for usage in self._rows(role, model):
                if timed:
                    usage.server_prompt_tokens += timed[0]
                    usage.server_prompt_seconds += timed[1]
                    usage.server_generated_tokens += timed[2]
                    usage.server_generation_seconds += timed[3]
                usage.calls += 1
                usage.prompt_tokens += int(prompt_tokens or 0)
                usage.completion_tokens += int(completion_tokens or 0)
                usage.cached_prompt_tokens += int(cached_prompt_tokens or 0)
                usage.seconds += seconds
                if batch:
                    usage.batch_calls += 1
                    usage.batch_prompt_tokens += int(prompt_tokens or 0)
                    usage.batch_completion_tokens += int(completion_tokens or 0)

    def record_cache_hit(self, role: str, *, model: str | None = None) -> None:
        with self._lock:
            for usage in self._rows(role, model):
                usage.cache_hits += 1

    def record_retry(self, role: str, *, model: str | None = None) -> None:
        with self._lock:
            for usage in self._rows(role, model):
                usage.retries += 1

    def record_failure(self, role: str, *, seconds: float = 0.0, model: str | None = None) -> None:
        with self._lock:
            for usage in self._rows(role, model):
                usage.failures += 1
                usage.seconds += seconds

    def take_counts(self) -> dict[str, dict[str, dict[str, float]]]:
        """The counters recorded so far, ``{"roles": {role: counters}, "models": {model: counters}}``,
        zeroed here: a Ray worker hands its usage to the driver's ledger (``add_counts``) this way."""
        with self._lock:
            taken = {"roles": {k: asdict(v) for k, v in self._roles.items()},
                     "models": {k: asdict(v) for k, v in self._models.items()}}
            self._roles, self._models = {}, {}
        return taken

    def add_counts(self, counts: Mapping[str, Mapping[str, Mapping[str, float]]]) -> None:
        """Add counters taken from another ledger (``take_counts``) to this one."""
        with self._lock:
            for kind, rows in (("roles", self._roles), ("models", self._models)):
                for name, counters in counts.get(kind, {}).items():
                    usage = rows.setdefault(name, RoleUsage())
                    for field in _FIELDS:
                        setattr(usage, field, getattr(usage, field) + counters.get(field, 0))

    def cost(self, role: str) -> float | None:
        """USD spent by ``role``; None when no prices are configured for it."""
        with self._lock:
            return self._cost(role, asdict(self._roles.setdefault(role, RoleUsage())))

    def _cost(self, role: str, row: dict[str, Any]) -> float | None:
        """Standard-priced tokens at the role's prices, batch tokens at those prices less the batch discount."""
        price = self.prices.get(role)
        if price is None:
            return None
        factor = 1.0 - self.batch_discounts.get(role, DEFAULT_BATCH_DISCOUNT)
        batch_in, batch_out = row["batch_prompt_tokens"], row["batch_completion_tokens"]
        standard = (row["prompt_tokens"] - batch_in) * price[0] + (row["completion_tokens"] - batch_out) * price[1]
        return (standard + factor * (batch_in * price[0] + batch_out * price[1])) / 1e6

    def summary(self) -> dict[str, Any]:
        """``{"roles": {role: counters + cost + rates}, "models": {model: counters + rates},
        "total": counters + cost + rates}``, JSON-serializable."""
        with self._lock:
            roles = {role: asdict(usage) for role, usage in sorted(self._roles.items())}
            models = {model: _rates(asdict(usage)) for model, usage in sorted(self._models.items())}
        total: dict[str, Any] = {field: sum(r[field] for r in roles.values()) for field in _FIELDS}
        costs = []
        for role, row in roles.items():
            row["cost"] = self._cost(role, row)
            _rates(row)
            costs.append(row["cost"])
        known = [c for c in costs if c is not None]
        total["cost"] = sum(known) if known else None
        return {"roles": roles, "models": models, "total": _rates(total)}

    def __deepcopy__(self, memo):  # shared by design; never duplicated with an LM copy
        return self
