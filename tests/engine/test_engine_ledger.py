"""UsageLedger: per role and per model, prefix-reused prompt tokens, tokens per second.

Runs against: the stub OpenAI-compatible server tests/engine/fake_openai.py on 127.0.0.1 (a test fake, not a model);
llama.cpp's timings are hand-written in the stub's replies.
"""

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


def test_the_servers_own_time_gives_rates_that_overlapping_calls_do_not_skew():
    """Two calls answered side by side: each waited 2 s, but the model spent 1 s generating for both."""
    ledger = UsageLedger()
    for _ in range(2):
        ledger.record_call("strong", prompt_tokens=100, completion_tokens=20, seconds=2.0, model="m",
                           timings={"prompt_n": 40, "prompt_ms": 200.0, "predicted_n": 20, "predicted_ms": 500.0})
    ledger.record_call("strong", prompt_tokens=10, completion_tokens=10, seconds=1.0, model="m")  # no timings (an API)
    strong = ledger.summary()["roles"]["strong"]
    assert strong["tokens_per_second"] == 10.0  # 50 tokens over 5 s of call time
    assert strong["server_generated_tokens"] == 40 and strong["server_generation_seconds"] == 1.0
    assert strong["server_tokens_per_second"] == 40.0 and strong["server_prompt_tokens_per_second"] == 200.0
    assert UsageLedger().summary()["total"]["server_tokens_per_second"] is None


def test_llama_cpp_timings_reach_the_ledger(make_lm, stub, ledger):
    stub.timings = {"cache_n": 0, "prompt_n": 3, "prompt_ms": 30.0, "predicted_n": 5, "predicted_ms": 100.0}
    chat(make_lm(), "llama.cpp timings")
    row = ledger.summary()["models"]["openai/stub-model"]
    assert (row["server_prompt_tokens"], row["server_generated_tokens"], row["server_tokens_per_second"]) == (3, 5, 50.0)
