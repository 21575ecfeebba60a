"""What every LM of one run shares: the call cache (optional), the usage ledger and the endpoint limiters."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from codeclm.engine.cache import CallCache
from codeclm.engine.caps import Caps, SpendGuard
from codeclm.engine.ledger import UsageLedger
from codeclm.engine.limits import limiter_for


@dataclass
class Engine:
    """The call cache (None when disabled), the usage ledger and where each endpoint's limiter comes from.

    `limiter_for(api_base, max_concurrency, rpm, tpm)` gives the one limiter of an endpoint: this
    process's (the default), or a proxy to a cluster-wide one (codeclm.cluster). `cache` is a
    CallCache or anything with its `get`/`put` (a proxy to a cache shared by a cluster's workers).
    """

    cache: CallCache | Any | None
    ledger: UsageLedger
    limiter_for: Callable[..., Any] = limiter_for
    guard: SpendGuard | None = None  # the run's spending caps (None: uncapped)


def open_engine(stack: ExitStack, cache_path: Path | None, prices: Mapping[str, tuple[float, float]] | None = None,
                batch_discounts: Mapping[str, float] | None = None, caps: Caps | None = None) -> Engine:
    """An engine whose cache (if `cache_path`) closes with `stack`; `prices`: role -> USD per 1M tokens in, out;
    `batch_discounts`: role -> share taken off those prices for batch calls; `caps`: spending caps checked
    before each paid call."""
    cache = None
    if cache_path is not None:
        cache = CallCache(cache_path)
        stack.callback(cache.close)
    guard = SpendGuard(caps, prices) if caps is not None and caps.any else None
    return Engine(cache=cache, ledger=UsageLedger(prices, batch_discounts), guard=guard)
