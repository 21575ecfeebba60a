"""The call layer: every LLM request goes through EngineLM (cache, limits, retries, ledger)."""

from codeclm.engine.cache import CallCache
from codeclm.engine.collect import DeferredCall, DeferredRequest, RequestCollector, collect_requests
from codeclm.engine.deferred import PendingPuts, deferred_cache
from codeclm.engine.engine import Engine, open_engine
from codeclm.engine.ledger import UsageLedger
from codeclm.engine.limits import EndpointLimiter, limiter_for
from codeclm.engine.lm import EngineLM
from codeclm.engine.retry import RetryPolicy
from codeclm.engine.score import ScoredText

__all__ = ["CallCache", "DeferredCall", "DeferredRequest", "Engine", "EndpointLimiter", "EngineLM", "PendingPuts",
           "RequestCollector", "RetryPolicy", "ScoredText", "UsageLedger", "collect_requests", "deferred_cache",
           "limiter_for", "open_engine"]
