"""Running a program's stages on a Ray cluster (the optional `ray` extra; Ray is imported only when used).

`RayExecutor` (executor.py) maps stages over `ProgramWorker` actors (worker.py); the state every worker
shares lives in actors too: the call cache (cache.py), one limiter per endpoint (limits.py) and call
budgets (budget.py). connect.py finds (or starts) the cluster. See docs/scale.md.
"""

from codeclm.cluster.executor import RayExecutor, WorkerStartError, check_ray_run

__all__ = ["RayExecutor", "WorkerStartError", "check_ray_run"]
