"""A call budget for a whole cluster: a baseline's `max_calls` (CallBudget) counted in one actor.

A stage fn that takes a CallBudget (Evol-Instruct's `evolve`) gets, on every worker, a SharedBudget
whose `take` and `room` go to one BudgetService; after the stage the driver's CallBudget holds the
count again. So the budget is spent exactly as in one process: never more than `max_calls`, and an
item that runs again (its worker died) takes its `key`ed share once.
"""

from __future__ import annotations

from typing import Any

from codeclm.programs.budget import CallBudget


class BudgetService:
    """One CallBudget for every worker (a Ray actor)."""

    def __init__(self, limit: int | None, used: int, taken: frozenset[object]):
        self.budget = CallBudget(limit)
        self.budget.restore(used, taken)

    def take(self, n: int, key: object = None) -> bool:
        return self.budget.take(n, key=key)

    def room(self, n: int) -> bool:
        return self.budget.room(n)

    def used(self) -> int:
        return self.budget.used

    def snapshot(self) -> tuple[int, frozenset[object]]:
        return self.budget.snapshot()


class SharedBudget:
    """CallBudget's interface (`take`, `room`, `used`, `limit`) on a BudgetService; travels to workers."""

    def __init__(self, service: Any, limit: int | None):
        self.service = service
        self.limit = limit

    def take(self, n: int = 1, key: object = None) -> bool:
        import ray

        return ray.get(self.service.take.remote(n, key))

    def room(self, n: int = 1) -> bool:
        import ray

        return ray.get(self.service.room.remote(n))

    @property
    def used(self) -> int:
        import ray

        return ray.get(self.service.used.remote())


class SharedBudgets:
    """The driver's side: each CallBudget a stage passes gets one BudgetService for this executor's life."""

    def __init__(self) -> None:
        self._shared: dict[int, tuple[CallBudget, Any]] = {}

    def share(self, budget: CallBudget) -> SharedBudget:
        import ray

        if id(budget) not in self._shared:  # the budget is kept, so its id is not reused while shared
            service = ray.remote(BudgetService).options(num_cpus=0).remote(budget.limit, *budget.snapshot())
            self._shared[id(budget)] = (budget, service)
        return SharedBudget(self._shared[id(budget)][1], budget.limit)

    def sync(self) -> None:
        """Copy each service's count back into the driver's CallBudget."""
        import ray

        for budget, service in self._shared.values():
            budget.restore(*ray.get(service.snapshot.remote()))

    def close(self) -> None:
        import ray

        for _, service in self._shared.values():
            ray.kill(service)
        self._shared.clear()
