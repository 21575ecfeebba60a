"""Fixtures for the call-layer tests: a fake OpenAI-compatible endpoint and an EngineLM factory."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI

from codeclm.engine import EngineLM, RetryPolicy, UsageLedger
from engine_helpers import ANSWER, SECRET, Sleeps


@pytest.fixture
def stub():
    with FakeOpenAI(0.0, responder=lambda body: ANSWER) as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def ledger() -> UsageLedger:
    return UsageLedger({"strong": (1.0, 2.0)})


@pytest.fixture
def transport() -> str:
    """EngineLM's transport in these tests; modules that test both paths parametrize it."""
    return "auto"


@pytest.fixture
def make_lm(stub, cache, ledger, sleeps, transport):
    """EngineLM against the stub; keyword overrides go straight to the constructor."""

    def make(**overrides) -> EngineLM:
        args = dict(model="openai/stub-model", api_base=stub.url, api_key=SECRET, role="strong", cache=cache,
                    limiter=None, ledger=ledger, transport=transport,
                    retry=RetryPolicy(max_tries=3, base_delay=0.01, max_delay=1.0, timeout=2.0, sleep=sleeps))
        args.update(overrides)
        return EngineLM(args.pop("model"), **args)

    return make

