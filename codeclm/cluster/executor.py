"""RayExecutor: a program's stages on a Ray cluster, under the local executor's contract.

The driver (this process) keeps everything that makes a run a run: the program's algorithm
(`generate`), the sink and its files, resume (`done` ids), the fingerprint and the manifest. Only
stage items travel: each goes, pickled, to a `ProgramWorker` actor as (method name, item, the
partial's arguments), and its Outcome comes back here, where `on_outcome` streams it to the sink
as it finishes, exactly as with threads. At most `concurrency` items are in flight in the whole
cluster, split over `workers` actors.

Shared state lives in actors the driver owns: the call cache (CacheService, the driver's sqlite file),
one limiter per endpoint (LimiterRegistry -> LimiterService), and any CallBudget a stage passes
(BudgetService). Each result carries the worker's usage since its previous result, added here to the
session's ledger and guard counts, so the manifest counts every worker's calls.

A killed worker is restarted by Ray and its items in flight run again there (`item_retries` times):
calls that had finished are in the cache, so they are not paid again. A killed driver takes its
workers with it; rerunning the command resumes from the output and the cache as with threads.
"""

from __future__ import annotations

import functools
import logging
import math
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from codeclm.models.config import ProgramConfig
from codeclm.errors import CodecLMError, ConfigError
from codeclm.executors.base import EndpointWatch, OnOutcome, Outcome, Progress, ReportsOutcomes
from codeclm.cluster.budget import SharedBudgets
from codeclm.cluster.worker import Identity, ProgramFiles, ProgramWorker, local_model_check
from codeclm.programs.budget import CallBudget

log = logging.getLogger(__name__)
T = TypeVar("T")
INLINE_BYTES = 64 * 1024  # program files up to this size travel inside each worker's creation spec (Ray inlines < 100 KB)
R = TypeVar("R")


class WorkerStartError(CodecLMError):
    """A Ray worker could not open the program (or opened a different one)."""


def check_ray_run(config: ProgramConfig, *, address: str | None, executor: str, lms: Any = None) -> None:
    """What refuses `codeclm run --executor ray` (or a stray --address) before any model starts, in one line."""
    if executor != "ray":
        raise ConfigError(f"--address {address}: only --executor ray joins a cluster; add --executor ray or drop --address")
    RayExecutor.check(config, lms=lms)


class RayExecutor(ReportsOutcomes):
    """Maps a program's stages over Ray actors that each opened the program once; outcomes stream back here.

    `address`: 'auto', 'ray://HOST:10001' or a GCS address; None joins $RAY_ADDRESS or starts Ray on this
    machine (and stops it on close). `concurrency`: items in flight across the cluster (default: the
    config's). `workers`: actor processes (default: one per free CPU of the cluster, at most `concurrency`),
    each with `worker_cpus` CPUs. `session`: the driver's open program, whose ledger and guard counts
    receive the workers' usage. Use as a context manager, or call `close()`.
    """

    def __init__(self, config: ProgramConfig, *, tuned: str | Path | None = None, address: str | None = None,
                 concurrency: int | None = None, workers: int | None = None, worker_cpus: float = 1.0,
                 session: Any = None, progress: Progress | None = None, abort_after: int = 8, item_retries: int = 2,
                 start_timeout: float = 600.0):
        from codeclm.engine import UsageLedger
        from codeclm.cluster.connect import connect
        from codeclm.steps.guards import GuardCounts
        from codeclm.models.roles import role_batch_discounts, role_prices

        self.check(config)
        self.config = config
        self.concurrency = max(1, concurrency or config.concurrency)
        self.progress = progress or Progress()
        self.watch = EndpointWatch(abort_after)
        self.item_retries = item_retries
        self.ledger = session.engine.ledger if session is not None else UsageLedger(role_prices(config), role_batch_discounts(config))
        program = session.program if session is not None else _program_without_models(config)
        self.guard_counts = getattr(program, "guard_counts", None) if session is not None else GuardCounts()
        self.program_type = type(program)
        self.expected = Identity(program.templates, program.tuned if session is not None else _tuned_digest(tuned),
                                 Identity.code_versions(), Identity.models_of(session.lms) if session is not None else None)
        self.budgets = SharedBudgets()
        self._ready = False
        self.workers: list[Any] = []
        self._services: list[Any] = []
        self.started_ray = connect(address)
        try:
            self._start(tuned, workers, worker_cpus, start_timeout)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def check(config: ProgramConfig, *, lms: Any = None) -> None:
        """What refuses a run under Ray before any model starts: Ray missing, LMs given in Python, unserved local models."""
        from codeclm.cluster.connect import require_ray

        require_ray()
        if lms is not None:
            raise ConfigError("--executor ray: each worker opens the YAML's models itself; LMs given from Python (lms=...) "
                              "cannot travel to workers: run without lms, or with --executor threads")
        local_model_check(config)

    # -- starting and stopping --------------------------------------------------------
    def _start(self, tuned: str | Path | None, workers: int | None, worker_cpus: float, start_timeout: float) -> None:
        import ray

        from codeclm.cluster.cache import start_cache_service
        from codeclm.cluster.connect import driver_node
        from codeclm.cluster.limits import LimiterRegistry

        config = self.config
        run_id = uuid.uuid4().hex[:12]
        cache_name = None
        path = config.call_cache_path()
        if path is not None:  # shared actors go by name: a worker restarted by Ray finds them again
            cache_name = f"codeclm-cache-{run_id}"
            self._services.append(start_cache_service(path, driver_node(), cache_name))
        registry_name = f"codeclm-limiters-{run_id}"
        self._registry = ray.remote(num_cpus=0, max_concurrency=8)(LimiterRegistry).options(name=registry_name).remote(
            self.concurrency + 8)
        self._services.append(self._registry)
        cpus = ray.cluster_resources().get("CPU", 1.0)
        count = workers or max(1, min(self.concurrency, int(cpus // max(worker_cpus, 1e-3))))
        slots = math.ceil(self.concurrency / count)
        actor = ray.remote(num_cpus=worker_cpus, max_concurrency=2, concurrency_groups={"items": slots},
                           max_restarts=-1, max_task_retries=self.item_retries)(ProgramWorker)
        files: Any = ProgramFiles.of(config, tuned)
        if files.size > INLINE_BYTES:  # kept in the object store, held here so a restarting worker still finds it
            files = self._files = ray.put(files)
        self.workers = [actor.remote(config, files, self.expected, cache_name, registry_name) for _ in range(count)]
        self._start_timeout, self._worker_cpus, self._slots = start_timeout, worker_cpus, slots

    def wait_ready(self) -> None:
        """Block until every worker has opened the program (the first `map` does this itself), or raise
        WorkerStartError with the first worker's reason. Workers start in the background meanwhile, so
        the driver's own work (the judge check) overlaps their start."""
        import ray

        if self._ready:
            return
        count = len(self.workers)
        try:
            failures = ray.get([w.ready.remote() for w in self.workers], timeout=self._start_timeout)
        except ray.exceptions.GetTimeoutError:
            raise WorkerStartError(f"{count} Ray workers ({self._worker_cpus:g} CPU each) did not start within "
                                   f"{self._start_timeout:g} s; the cluster has {ray.available_resources().get('CPU', 0):g} "
                                   "free CPUs: lower concurrency, pass fewer workers, or add nodes") from None
        failure = next((f for f in failures if f), None)
        if failure:
            raise WorkerStartError(failure)
        self._ready = True
        log.info("Ray executor: %d workers x %d items in flight", count, self._slots)

    def worker_pids(self) -> list[int]:
        """The process id of each worker (diagnostics, and tests that kill one)."""
        import ray

        return ray.get([w.pid.remote() for w in self.workers])

    def limiter_grants(self) -> dict[str, int]:
        """Endpoint -> requests holding one of its cluster-wide slots now (diagnostics, and tests)."""
        import ray

        return ray.get(self._registry.held.remote())

    def close(self) -> None:
        """Stop the workers and the shared actors (and Ray itself when this executor started it)."""
        import ray

        if ray.is_initialized():
            try:
                ray.get([w.close.remote() for w in self.workers], timeout=30)
            except Exception as exc:  # noqa: BLE001 - closing: a dead worker has nothing left to close
                log.debug("closing Ray workers: %s", exc)
            for actor in self.workers + self._services:
                ray.kill(actor)
            self.budgets.close()
        self.workers, self._services = [], []
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- one stage ------------------------------------------------------------------
    def map(self, stage: str, fn: Callable[[T], R], items: Sequence[T], on_outcome: OnOutcome | None = None) -> list[Outcome[T, R]]:
        import ray

        method, args, kwargs = self.remote_call(stage, fn)
        self.wait_ready()
        call = ray.put((args, kwargs))
        items = list(items)
        self.progress.start(stage, len(items))
        limit = self.watch.limit(len(items))
        results: dict[int, Outcome[T, R]] = {}
        in_flight: dict[Any, tuple[int, int]] = {}  # ref -> (item index, worker index)
        load = [0] * len(self.workers)
        queued = 0
        try:
            while queued < len(items) or in_flight:
                while queued < len(items) and len(in_flight) < self.concurrency:
                    worker = min(range(len(self.workers)), key=load.__getitem__)
                    ref = self.workers[worker].run.options(concurrency_group="items").remote(method, items[queued], call)
                    in_flight[ref] = (queued, worker)
                    load[worker] += 1
                    queued += 1
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    index, worker = in_flight.pop(ref)
                    load[worker] -= 1
                    results[index] = self._finish(stage, self._outcome(stage, ref, items[index]), on_outcome, limit)
        except BaseException:
            self._settle(in_flight)
            raise
        finally:
            self.budgets.sync()
        return [results[i] for i in range(len(items))]

    def remote_call(self, stage: str, fn: Callable[..., Any]) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        """(method name, args, kwargs) that a worker's program runs for `fn`: a method of the program, or a
        functools.partial of one. Arguments travel by value, except a CallBudget, which is shared."""
        args, kwargs, target = (), {}, fn
        if isinstance(fn, functools.partial):
            args, kwargs, target = fn.args, dict(fn.keywords), fn.func
        owner, func = getattr(target, "__self__", None), getattr(target, "__func__", None)
        name = getattr(func, "__name__", None)
        if not isinstance(owner, self.program_type) or name is None or getattr(type(owner), name, None) is not func:
            raise TypeError(f"stage {stage!r}: the Ray executor runs methods of the program ({self.program_type.__name__}) "
                            f"on its workers, by name; {fn!r} is not one: make it a method of the program, or a "
                            "functools.partial of one")

        def share(value: Any) -> Any:
            return self.budgets.share(value) if isinstance(value, CallBudget) else value

        return name, tuple(share(a) for a in args), {k: share(v) for k, v in kwargs.items()}

    def _outcome(self, stage: str, ref: Any, item: Any) -> Outcome[Any, Any]:
        import ray

        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the stage raised what ends a run (not a StepError): raise it here
            raise (exc.cause if isinstance(exc.cause, BaseException) else exc) from None
        except ray.exceptions.RayActorError as exc:  # its worker died on every try
            reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:200]
            return Outcome(item, error=f"{stage}: the Ray worker running this item died {self.item_retries + 1} times "
                                       f"({reason}); retried next run", stage=stage)
        self.ledger.add_counts(result.usage)
        if self.guard_counts is not None:
            self.guard_counts.add_counts(result.guards)
        return Outcome(item, value=result.value, error=result.error, stage=result.stage,
                       endpoint_failure=result.endpoint_failure, permanent=result.permanent)

    def _settle(self, in_flight: dict[Any, Any]) -> None:
        """A stage that stops: items in flight finish (their calls reach the cache) and are not reported, as with threads."""
        import ray

        if in_flight:
            ray.wait(list(in_flight), num_returns=len(in_flight), timeout=None)


def _program_without_models(config: ProgramConfig) -> Any:
    from codeclm.programs import build_program

    return build_program(config)


def _tuned_digest(tuned: str | Path | None) -> str | None:
    if not tuned:
        return None
    from codeclm.programs.tuned import read_tuned

    return read_tuned(tuned)[1]
