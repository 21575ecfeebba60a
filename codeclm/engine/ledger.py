"""Thread-safe usage counters per role (strong, target, judge, ...)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Mapping

_FIELDS = ("calls", "cache_hits", "retries", "failures", "prompt_tokens", "completion_tokens", "seconds")


@dataclass
class RoleUsage:
    """One role's counters. ``calls`` counts answered HTTP calls (not cache hits);
    ``seconds`` is wall time spent on them, retries and backoff included."""

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class UsageLedger:
    """Per-role counters; ``prices`` maps role -> (USD per 1M input, per 1M output tokens)."""

    def __init__(self, prices: Mapping[str, tuple[float, float]] | None = None):
        self.prices = {role: (float(p[0]), float(p[1])) for role, p in (prices or {}).items()}
        self._roles: dict[str, RoleUsage] = {}
        self._lock = threading.Lock()

    def _role(self, role: str) -> RoleUsage:
        usage = self._roles.get(role)
        if usage is None:
            usage = self._roles[role] = RoleUsage()
        return usage

    def record_call(self, role: str, *, prompt_tokens: int = 0, completion_tokens: int = 0,
                    seconds: float = 0.0) -> None:
        with self._lock:
            usage = self._role(role)
            usage.calls += 1
            usage.prompt_tokens += int(prompt_tokens or 0)
            usage.completion_tokens += int(completion_tokens or 0)
            usage.seconds += seconds

    def record_cache_hit(self, role: str) -> None:
        with self._lock:
            self._role(role).cache_hits += 1

    def record_retry(self, role: str) -> None:
        with self._lock:
            self._role(role).retries += 1

    def record_failure(self, role: str, *, seconds: float = 0.0) -> None:
        with self._lock:
            usage = self._role(role)
            usage.failures += 1
            usage.seconds += seconds

    def cost(self, role: str) -> float | None:
        """USD spent by ``role``; None when no prices are configured for it."""
        price = self.prices.get(role)
        if price is None:
            return None
        with self._lock:
            usage = self._role(role)
            return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1e6

    def summary(self) -> dict[str, Any]:
        """``{"roles": {role: counters + cost}, "total": counters + cost}``, JSON-serializable."""
        with self._lock:
            roles = {role: asdict(usage) for role, usage in sorted(self._roles.items())}
        total: dict[str, Any] = {field: sum(r[field] for r in roles.values()) for field in _FIELDS}
        costs = []
        for role, row in roles.items():
            price = self.prices.get(role)
            row["cost"] = (None if price is None else
                           (row["prompt_tokens"] * price[0] + row["completion_tokens"] * price[1]) / 1e6)
            row["seconds"] = round(row["seconds"], 3)
            costs.append(row["cost"])
        total["seconds"] = round(total["seconds"], 3)
        known = [c for c in costs if c is not None]
        total["cost"] = sum(known) if known else None
        return {"roles": roles, "total": total}

    def __deepcopy__(self, memo):  # shared by design; never duplicated with an LM copy
        return self
