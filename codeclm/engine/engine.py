"""What every LM of one run shares: the call cache (optional) and the usage ledger."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from codeclm.engine.cache import CallCache
from codeclm.engine.ledger import UsageLedger


@dataclass
class Engine:
    """The call cache (None when disabled) and the usage ledger of one program session."""

    cache: CallCache | None
    ledger: UsageLedger


def open_engine(stack: ExitStack, cache_path: Path | None, prices: Mapping[str, tuple[float, float]] | None = None,
                batch_discounts: Mapping[str, float] | None = None) -> Engine:
    """An engine whose cache (if `cache_path`) closes with `stack`; `prices`: role -> USD per 1M tokens in, out;
    `batch_discounts`: role -> share taken off those prices for batch calls."""
    cache = None
    if cache_path is not None:
        cache = CallCache(cache_path)
        stack.callback(cache.close)
    return Engine(cache=cache, ledger=UsageLedger(prices, batch_discounts))
