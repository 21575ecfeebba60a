"""Endpoint limits for a whole cluster: one actor per endpoint grants every worker's requests.

Each endpoint's `LimiterService` holds the same `EndpointLimiter` the local executor uses
(max_concurrency slots, rpm and tpm token buckets), so the YAML's limits hold across all workers
together, not per worker. Workers see a `ClusterLimiter` with EndpointLimiter's interface
(`acquire(tokens)` context manager, `settle(estimated, actual)`): one round trip per request to
wait for a grant, and a release and a settle sent without waiting. `LimiterRegistry` plays
`limiter_for` for the cluster: one service per endpoint, created on first use with that use's limits.

A grant belongs to one incarnation of a worker. When a killed worker restarts it calls `forget`, and
the slots its previous incarnation held (or was still waiting for) return to the pool.
"""

from __future__ import annotations

import itertools
import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from codeclm.engine.keys import normalize_api_base, redact_url
from codeclm.engine.limits import EndpointLimiter

log = logging.getLogger(__name__)

Owner = tuple[str, str]  # (worker id, incarnation): a restarted worker keeps its actor id, runs in a new process
Limits = tuple[int, "float | None", "float | None"]  # max_concurrency, rpm, tpm


class LimiterService:
    """One endpoint's EndpointLimiter for every worker of the cluster (a Ray actor).

    `acquire` blocks (in the actor's "wait" concurrency group) until a slot and rate budget are free
    and returns a grant id; `release`, `settle` and `forget` run in the default group, so they are
    never stuck behind waiting requests.
    """

    def __init__(self, max_concurrency: int, rpm: float | None, tpm: float | None):
        self.limiter = EndpointLimiter(max_concurrency, rpm, tpm)
        self._grants: dict[int, tuple[Owner, Any]] = {}
        self._current: dict[str, str] = {}  # worker id -> its live incarnation ('' once gone)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def acquire(self, owner: Owner, tokens: float) -> int:
        held = self.limiter.acquire(tokens)
        held.__enter__()
        with self._lock:
            live = self._current.get(owner[0], owner[1]) == owner[1]
            grant = next(self._ids) if live else 0
            if live:
                self._grants[grant] = (owner, held)
        if not live:  # granted to a worker that has died since it asked
            held.__exit__(None, None, None)
        return grant

    def release(self, grant: int) -> None:
        with self._lock:
            found = self._grants.pop(grant, None)
        if found is not None:
            found[1].__exit__(None, None, None)

    def settle(self, estimated: float, actual: float) -> None:
        self.limiter.settle(estimated, actual)

    def forget(self, worker: str, incarnation: str | None) -> int:
        """`worker` now lives as `incarnation` (None: it is gone): release what its earlier incarnations held."""
        with self._lock:
            self._current[worker] = incarnation or ""
            stale = [g for g, (owner, _) in self._grants.items() if owner[0] == worker and owner[1] != incarnation]
            held = [self._grants.pop(g)[1] for g in stale]
        for h in held:
            h.__exit__(None, None, None)
        return len(held)

    def held(self) -> int:
        """Grants out now (tests, diagnostics)."""
        with self._lock:
            return len(self._grants)


class ClusterLimiter:
    """A worker's limiter for one endpoint: EndpointLimiter's interface on the cluster's LimiterService."""

    def __init__(self, service: Any, owner: Owner, limits: Limits):
        import ray

        self._ray = ray
        self.service = service
        self.owner = owner
        self.max_concurrency, self.rpm, self.tpm = limits
        self._wait = service.acquire.options(concurrency_group="wait")

    @contextmanager
    def acquire(self, tokens: float = 0.0) -> Iterator[None]:
        """Hold one of the endpoint's cluster-wide slots for the block, after its rate budget allows."""
        grant = self._ray.get(self._wait.remote(self.owner, tokens))
        try:
            yield
        finally:
            self.service.release.remote(grant)

    def settle(self, estimated: float, actual: float) -> None:
        if self.tpm is not None:
            self.service.settle.remote(estimated, actual)

    def __deepcopy__(self, memo):  # shared by design, like EndpointLimiter
        return self


class LimiterRegistry:
    """The cluster's `limiter_for`: one LimiterService per endpoint, created on first use (a Ray actor).

    `waiters`: how many requests may wait at one endpoint at once (every item in flight, at most).
    """

    def __init__(self, waiters: int):
        self.waiters = max(1, waiters)
        self._services: dict[str, tuple[Any, Limits]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, max_concurrency: int, rpm: float | None, tpm: float | None) -> tuple[Any, Limits]:
        """The service of endpoint `key` and the limits it keeps (those of its first use)."""
        import ray

        with self._lock:
            if key not in self._services:
                service = ray.remote(num_cpus=0, max_concurrency=4, concurrency_groups={"wait": self.waiters},
                                     max_restarts=-1, max_task_retries=-1)(LimiterService).remote(max_concurrency, rpm, tpm)
                self._services[key] = (service, (max_concurrency, rpm, tpm))
            return self._services[key]

    def held(self) -> dict[str, int]:
        """Grants out now per endpoint (diagnostics, tests)."""
        import ray

        with self._lock:
            services = dict(self._services)
        return {key: ray.get(service.held.remote()) for key, (service, _) in services.items()}

    def forget(self, worker: str, incarnation: str | None) -> int:
        """Tell every endpoint's service that `worker` now lives as `incarnation` (None: gone)."""
        import ray

        with self._lock:
            services = [service for service, _ in self._services.values()]
        return sum(ray.get([s.forget.remote(worker, incarnation) for s in services]))


def cluster_limiter_for(registry: Any, owner: Owner) -> Callable[..., ClusterLimiter]:
    """A worker's `limiter_for` (Engine.limiter_for): the cluster-wide limiter of each endpoint."""
    import ray

    def limiter_for(api_base: str | None, max_concurrency: int, rpm: float | None = None, tpm: float | None = None,
                    adaptive: bool = False) -> ClusterLimiter:  # cluster-wide limits stay fixed (not adaptive)
        service, limits = ray.get(registry.get.remote(normalize_api_base(api_base), max_concurrency, rpm, tpm))
        if limits != (max_concurrency, rpm, tpm):
            log.warning("endpoint %s already has limits (concurrency=%s rpm=%s tpm=%s); keeping them",
                        redact_url(api_base), *limits)
        return ClusterLimiter(service, owner, limits)

    return limiter_for
