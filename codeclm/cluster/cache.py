"""The call cache of a whole cluster: one actor in front of the driver's sqlite file.

Every worker's `get` and `put` go to `CacheService`, an actor pinned to the driver's node that owns
the same `CallCache` file the local executor uses (WAL, each put committed before it returns). So a
finished call is on disk before its worker goes on; a killed worker, a killed driver or a rerun with
either executor finds it there; and a run started with threads resumes under Ray and back.

Why not the alternatives: workers opening the file themselves works only on the driver's node (sqlite
over a network filesystem is unsafe in WAL mode); per-worker shards merged at stage end lose what a
dead node held, and a worker would not see another's replies until the merge. The price is one
round trip to the actor per lookup and per put, small beside an LLM call (docs/speed.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeclm.engine.cache import CallCache


class CacheService:
    """The driver's call cache file, served to every worker (runs as a Ray actor on the driver's node)."""

    def __init__(self, path: str):
        self.cache = CallCache(path)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.cache.get(key)

    def put(self, key: str, response: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
        self.cache.put(key, response, meta)

    def entries(self) -> int:
        return len(self.cache)

    def path(self) -> str:
        return str(self.cache.path)

    def stats(self) -> dict[str, Any]:
        return self.cache.stats()


class ClusterCache:
    """A worker's call cache: CallCache's interface on the cluster's CacheService; a put returns once on disk."""

    def __init__(self, service: Any):
        import ray

        self._ray = ray
        self.service = service

    @property
    def path(self) -> Path:
        """The file on the driver's node."""
        return Path(self._ray.get(self.service.path.remote()))

    def get(self, key: str) -> dict[str, Any] | None:
        return self._ray.get(self.service.get.remote(key))

    def put(self, key: str, response: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
        self._ray.get(self.service.put.remote(key, response, meta))

    def __len__(self) -> int:
        return self._ray.get(self.service.entries.remote())

    def stats(self) -> dict[str, Any]:
        return self._ray.get(self.service.stats.remote())

    def close(self) -> None:
        """Nothing to close here: the driver owns the file."""

    def __deepcopy__(self, memo):  # shared by design, like CallCache
        return self


def start_cache_service(path: Path, node: str, name: str) -> Any:
    """The CacheService actor `name` for `path`, on `node` (the driver's, where the file is)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = ray.remote(CacheService).options(
        name=name, num_cpus=0, max_concurrency=16, max_restarts=-1, max_task_retries=-1,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False),
    )
    return actor.remote(str(path))
