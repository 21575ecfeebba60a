"""UsageLedger: per role and per model, prefix-reused prompt tokens, tokens per second."""

from __future__ import annotations

import pytest
from engine_helpers import chat

from codeclm.engine import UsageLedger

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")

KEPT_KEYS = {"calls", "cache_hits", "retries", "failures", "prompt_tokens", "completion_tokens", "seconds", "cost"}


def test_summary_keeps_its_keys_and_adds_cached_tokens_and_rates():
    ledger = UsageLedger({"strong": (1.0, 2.0)})
    ledger.record_call("strong", prompt_tokens=100, completion_tokens=50, cached_prompt_tokens=60, seconds=2.0,
                       model="openai/big")
    ledger.record_call("judge", prompt_tokens=10, completion_tokens=5, seconds=0.5, model="openai/big")
    ledger.record_call("target", prompt_tokens=20, completion_tokens=30, seconds=1.0, model="openai/small")
    summary = ledger.summary()
    strong = summary["roles"]["strong"]
    assert KEPT_KEYS <= set(strong) and KEPT_KEYS <= set(summary["total"])
    assert strong["cached_prompt_tokens"] == 60
    assert strong["tokens_per_second"] == 25.0 and strong["prompt_tokens_per_second"] == 50.0
    assert summary["models"]["openai/big"]["calls"] == 2 and summary["models"]["openai/big"]["completion_tokens"] == 55
    assert summary["models"]["openai/small"]["tokens_per_second"] == 30.0
    assert summary["total"]["cached_prompt_tokens"] == 60 and summary["total"]["completion_tokens"] == 85
    assert UsageLedger().summary()["total"]["tokens_per_second"] is None


@pytest.mark.parametrize("transport", ["direct", "litellm"])
def test_openai_cached_tokens_are_counted(make_lm, stub, ledger, transport):
    stub.cached_tokens = 7
    chat(make_lm(transport=transport), "prefix reuse")
    row = ledger.summary()["roles"]["strong"]
    assert row["cached_prompt_tokens"] == 7 and row["prompt_tokens"] >= 1 and row["completion_tokens"] >= 1


def test_llama_cpp_timings_cache_n_is_counted(make_lm, stub, ledger):
    stub.timings = {"cache_n": 12, "prompt_n": 3, "predicted_n": 5}
    chat(make_lm(), "llama.cpp prefix reuse")
    assert ledger.summary()["roles"]["strong"]["cached_prompt_tokens"] == 12


def test_calls_hits_and_failures_are_counted_per_model(make_lm, stub, ledger):
    lm = make_lm(role="judge")
    chat(lm, "a")
    chat(lm, "a")
    models = ledger.summary()["models"]
    assert (models["openai/stub-model"]["calls"], models["openai/stub-model"]["cache_hits"]) == (1, 1)
    assert models["openai/stub-model"]["seconds"] > 0 and models["openai/stub-model"]["tokens_per_second"] > 0


def test_batch_calls_cost_the_batch_discount_off_standard_prices():
    ledger = UsageLedger({"strong": (2.0, 8.0), "judge": (2.0, 8.0)}, batch_discounts={"judge": 0.25})
    ledger.record_call("strong", prompt_tokens=1000, completion_tokens=100, seconds=1.0, model="m")
    ledger.record_call("strong", prompt_tokens=1000, completion_tokens=100, model="m", batch=True)
    ledger.record_call("judge", prompt_tokens=1000, completion_tokens=100, model="m", batch=True)
    summary = ledger.summary()
    strong, judge = summary["roles"]["strong"], summary["roles"]["judge"]
    assert (strong["calls"], strong["batch_calls"], strong["batch_prompt_tokens"]) == (2, 1, 1000)
    assert strong["cost"] == pytest.approx((2800 + 0.5 * 2800) / 1e6)  # default discount: half price
    assert judge["cost"] == pytest.approx(0.75 * 2800 / 1e6) == ledger.cost("judge")
    assert strong["tokens_per_second"] == 100.0  # rates count live call time only
    assert summary["total"]["batch_calls"] == 2
