"""EngineLM through the stub: the DSPy path, caching, retries, errors, secrets, ledger.

Every test runs on both paths: the direct httpx path and litellm.
Runs against: the stub OpenAI-compatible server tests/engine/fake_openai.py on 127.0.0.1 (a test fake, not a model).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import warnings

import dspy
import pytest
from engine_helpers import SECRET, chat

from codeclm.engine import EndpointLimiter, RetryPolicy
from codeclm.engine.lm import silence_legacy_forward_warning
from codeclm.errors import EndpointError

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")


@pytest.fixture(params=["direct", "litellm"])
def transport(request) -> str:
    return request.param


def test_predict_runs_through_engine_lm_and_second_call_is_a_cache_hit(make_lm, stub, ledger):
    lm = make_lm()
    predict = dspy.Predict("question -> answer")
    with warnings.catch_warnings(record=True) as caught, dspy.context(lm=lm):
        warnings.simplefilter("always")
        first = predict(question="what is six times seven?")
        assert [w for w in caught if "BaseLM.forward" in str(w.message)]  # DSPy's legacy path is taken
        caught.clear()
        silence_legacy_forward_warning()  # what importing codeclm.engine.lm does
        second = predict(question="what is six times seven?")
    assert first.answer == second.answer == "42"
    assert stub.stats()["requests"] == 1
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)]
    roles = ledger.summary()["roles"]["strong"]
    assert (roles["calls"], roles["cache_hits"]) == (1, 1)


def test_rollout_id_from_predict_config_makes_a_new_call_and_is_not_sent(make_lm, stub):
    lm = make_lm()
    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=lm):
        predict(question="q", config={"temperature": 1.0, "rollout_id": 1})
        predict(question="q", config={"temperature": 1.0, "rollout_id": 2})
        predict(question="q", config={"temperature": 1.0, "rollout_id": 1})
    assert stub.stats()["requests"] == 2
    assert all("rollout_id" not in body for body in stub.bodies)
    assert all(body["temperature"] == 1.0 for body in stub.bodies)


def test_cache_hit_makes_no_http_call_and_is_marked(make_lm, stub):
    lm = make_lm()
    chat(lm)
    stub.reset()
    hit = chat(lm)
    assert stub.stats()["requests"] == 0
    assert hit.cache_hit is True
    assert hit.choices[0].message.content.startswith("[[ ## answer")


def test_cache_is_shared_across_api_keys_and_key_reaches_the_server(make_lm, stub):
    chat(make_lm())
    chat(make_lm(api_key="sk-another-key-zzzz"))
    assert stub.stats()["requests"] == 1
    assert stub.auth_headers == [f"Bearer {SECRET}"]


def test_cache_off_per_call(make_lm, stub):
    lm = make_lm()
    chat(lm)
    chat(lm, cache=False)
    assert stub.stats()["requests"] == 2


def test_api_key_never_in_cache_file_logs_or_errors(make_lm, stub, cache, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    lm = make_lm()
    chat(lm)
    stub.script.extend(["500", "500", "500"])
    with pytest.raises(EndpointError) as failure:
        chat(lm, "fails")
    stub.script.append("401")
    with pytest.raises(EndpointError) as denied:
        chat(lm, "denied")
    cache.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("calls.sqlite"))
    assert SECRET.encode() not in raw
    rows = sqlite3.connect(cache.path).execute("SELECT response, meta FROM responses").fetchall()
    assert rows and all(SECRET not in r + m for r, m in rows)
    assert SECRET not in caplog.text
    for err in (failure.value, denied.value):
        assert SECRET not in str(err) and SECRET not in repr(err)
        assert err.__cause__ is None and err.__suppress_context__


def test_key_scrubbed_from_error_text_that_echoes_it(make_lm, stub, caplog):
    stub.script.append("401")  # the stub's 401 message quotes the bearer token back
    with pytest.raises(EndpointError) as err:
        chat(make_lm())
    assert "incorrect API key provided: ***" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in caplog.text


def test_429_honours_retry_after_seconds(make_lm, stub, sleeps):
    stub.retry_after = 0.25
    stub.script.extend(["429", "429"])
    response = chat(make_lm())
    assert response.choices[0].message.content
    assert sleeps == [0.25, 0.25]
    assert stub.stats()["requests"] == 3


def test_429_honours_retry_after_http_date(make_lm, stub, sleeps):
    stub.retry_after, stub.retry_after_date = 3, True  # an HTTP date ~3 s ahead (whole seconds)
    stub.script.append("429")
    chat(make_lm(retry=RetryPolicy(max_tries=2, base_delay=0.001, max_delay=10.0, sleep=sleeps)))
    assert len(sleeps) == 1 and 1.0 < sleeps[0] <= 3.01  # jitter alone would be <= 0.002


def test_retry_after_past_max_delay_stops_with_the_wait_named(make_lm, stub, sleeps):
    """Not cut to max_delay (the server would refuse again) nor slept through: one clear line."""
    from codeclm.errors import RetryAfterTooLongError

    stub.retry_after = 30
    stub.script.append("429")
    with pytest.raises(RetryAfterTooLongError, match="asks to wait 30 s before a retry, longer than the retry policy's 1 s"):
        chat(make_lm())
    assert sleeps == [] and stub.stats()["requests"] == 1


@pytest.mark.parametrize("fault", ["500", "drop", "garbage", "slow"])
def test_transient_faults_back_off_then_succeed(make_lm, stub, sleeps, ledger, fault):
    stub.slow_seconds = 2.0  # well past the client timeout below
    stub.script.append(fault)
    lm = make_lm(retry=RetryPolicy(max_tries=3, base_delay=0.01, max_delay=1.0, timeout=0.5, sleep=sleeps))
    assert chat(lm).choices[0].message.content
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.01 * 2
    assert stub.stats()["requests"] == 2
    assert ledger.summary()["roles"]["strong"]["retries"] == 1


def test_exhausted_retries_raise_endpoint_error_naming_role_model_endpoint(make_lm, stub, sleeps, ledger):
    stub.rates = {"500": 1.0}
    with pytest.raises(EndpointError) as err:
        chat(make_lm(role="judge"))
    message = str(err.value)
    assert "\n" not in message
    assert "judge" in message and "openai/stub-model" in message and stub.url in message
    assert "after 3 tries" in message and "500" in message
    assert err.value.status == 500 and err.value.tries == 3
    assert stub.stats()["requests"] == 3 and len(sleeps) == 2
    assert ledger.summary()["roles"]["judge"]["failures"] == 1


@pytest.mark.parametrize("fault,status", [("400", 400), ("401", 401), ("404", 404)])
def test_client_errors_are_not_retried(make_lm, stub, sleeps, fault, status):
    stub.script.append(fault)
    with pytest.raises(EndpointError) as err:
        chat(make_lm())
    assert err.value.status == status and err.value.tries == 1
    assert stub.stats()["requests"] == 1 and sleeps == []


def test_failed_calls_are_not_cached(make_lm, stub):
    lm = make_lm()
    stub.script.append("400")
    with pytest.raises(EndpointError):
        chat(lm)
    chat(lm)
    assert stub.stats()["requests"] == 2


def test_concurrency_limit_holds(make_lm, stub):
    stub.latency = 0.05
    lm = make_lm(limiter=EndpointLimiter(max_concurrency=2), cache=None)
    threads = [threading.Thread(target=chat, args=(lm, f"q{i}")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = stub.stats()
    assert stats["requests"] == 8 and stats["max_in_flight"] == 2


def test_rpm_limit_spaces_calls(make_lm, stub):
    lm = make_lm(limiter=EndpointLimiter(max_concurrency=4, rpm=1200), cache=None)  # one per 50 ms
    threads = [threading.Thread(target=chat, args=(lm, f"q{i}")) for i in range(5)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The 5th request cannot leave before 4 intervals: a lower bound the limiter guarantees.
    assert len(stub.arrivals) == 5 and stub.arrivals[-1] - start >= 4 * 0.05


def test_ledger_counts_tokens_and_cost(make_lm, stub, ledger):
    lm = make_lm()
    responses = [chat(lm, "first question"), chat(lm, "a second, longer question")]
    chat(lm, "first question")
    expected_prompt = sum(r.usage.prompt_tokens for r in responses)
    expected_completion = sum(r.usage.completion_tokens for r in responses)
    summary = ledger.summary()
    row = summary["roles"]["strong"]
    assert (row["calls"], row["cache_hits"]) == (2, 1)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (expected_prompt, expected_completion)
    assert row["cost"] == pytest.approx((expected_prompt * 1.0 + expected_completion * 2.0) / 1e6)
    assert summary["total"]["prompt_tokens"] == expected_prompt


def test_engine_lm_refuses_settings_it_owns(stub):
    from codeclm.engine import EngineLM

    with pytest.raises(TypeError, match="num_retries"):
        EngineLM("openai/stub-model", api_base=stub.url, role="strong", num_retries=3)


def test_dump_state_and_copy_keep_secrets_out_and_share_resources(make_lm, cache):
    lm = make_lm()
    assert SECRET not in repr(lm.dump_state())
    twin = lm.copy(rollout_id=3, temperature=1.0)
    assert twin.call_cache is cache and twin.kwargs["rollout_id"] == 3


def test_async_predict_takes_the_same_path(make_lm, stub, ledger):
    import asyncio

    lm = make_lm()
    predict = dspy.Predict("question -> answer")

    async def twice():
        with dspy.context(lm=lm):
            return [await predict.acall(question="async?") for _ in range(2)]

    assert [p.answer for p in asyncio.run(twice())] == ["42", "42"]
    assert stub.stats()["requests"] == 1 and ledger.summary()["roles"]["strong"]["cache_hits"] == 1


def test_vcr_records_and_replays_engine_calls_without_the_key(make_lm, stub, tmp_path):
    import vcr

    cassette = tmp_path / "engine.yaml"
    recorder = vcr.VCR(filter_headers=["authorization"], record_mode="once")
    with recorder.use_cassette(str(cassette)):
        recorded = chat(make_lm(cache=None), "record me").choices[0].message.content
    assert stub.stats()["requests"] == 1 and SECRET not in cassette.read_text()
    with recorder.use_cassette(str(cassette)):
        replayed = chat(make_lm(cache=None), "record me").choices[0].message.content
    assert replayed == recorded and stub.stats()["requests"] == 1
