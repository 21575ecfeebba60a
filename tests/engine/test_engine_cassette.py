"""Both paths replayed from committed cassettes: what goes on the wire, and that no key does.

Recorded against the fake OpenAI server (tests/engine/fake_openai.py), which the
``api_base`` fixture starts whenever the record mode is not ``none``:
PYTHONPATH=$PWD pytest -o addopts="" --record-mode=once tests/engine/test_engine_cassette.py
On replay (the default ``--record-mode=none``) calls go to a dead port; vcrpy answers them.
Runs against: cassettes recorded from the stub server tests/engine/fake_openai.py (a test fake, not a model).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import SECRET
from fake_openai import FakeOpenAI

from codeclm.engine import EngineLM, RetryPolicy

pytestmark = [pytest.mark.vcr,
              pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")]

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is six times seven?"}]
REPLAY_API_BASE = "http://127.0.0.1:9/v1"


@pytest.fixture
def api_base(request):
    if request.config.getoption("--record-mode") == "none":
        yield REPLAY_API_BASE
        return
    with FakeOpenAI(0.0) as fake:
        fake.rich, fake.finish_reason = True, "length"
        yield fake.url


@pytest.fixture
def recorded(vcr, vcr_cassette_dir, request):
    """The requests of this test's cassette (as recorded now, or as loaded for replay), checked for keys."""

    def requests() -> list[dict]:
        path = Path(vcr_cassette_dir) / f"{request.node.name}.yaml"
        if path.exists():
            text = path.read_text()
            assert SECRET not in text and "bearer" not in text.lower() and "authorization" not in text.lower()
        found = []
        for sent in vcr.requests:
            assert not any(name.lower() == "authorization" for name in sent.headers)
            assert SECRET.encode() not in (sent.body or b"")
            found.append({"uri": sent.uri, "body": json.loads(sent.body)})
        return found

    return requests


def make(api_base: str, **options) -> EngineLM:
    return EngineLM("openai/stub-model", api_base=api_base, api_key=SECRET, role="target",
                    retry=RetryPolicy(max_tries=1, timeout=5.0), **options)


def check_chat(reply) -> None:
    assert reply.choices[0].message.content == "The answer is 42."
    assert reply.choices[0].finish_reason == "length"
    assert [t["token"] for t in reply.choices[0].logprobs["content"]] == ["The", " answer", " is", " 42", "."]


@pytest.mark.parametrize("transport", ["direct", "litellm"])
def test_chat_replayed(api_base, recorded, transport):
    lm = make(api_base, transport=transport, temperature=0.0, max_tokens=5)
    check_chat(lm.forward(messages=MESSAGES, logprobs=True, top_logprobs=1, seed=7, rollout_id=3))
    (request,) = recorded()
    assert request["uri"].endswith("/v1/chat/completions")
    assert request["body"] == {"model": "stub-model", "messages": MESSAGES, "temperature": 0.0,
                                           "max_tokens": 5, "logprobs": True, "top_logprobs": 1, "seed": 7}


def test_streamed_chat_replayed(api_base, recorded):
    lm = make(api_base, stream_for_cancel=True, temperature=0.0, max_tokens=5)
    reply = lm.forward(messages=MESSAGES, logprobs=True, top_logprobs=1)
    check_chat(reply)
    assert reply.usage.completion_tokens == 5
    (request,) = recorded()
    body = request["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_score_replayed(api_base, recorded):
    scored = make(api_base).score("Paris is the capital of France.")
    assert scored.tokens == ["Paris", " is", " the", " capital", " of", " France."]
    assert scored.logprobs[0] is None and all(lp < 0 for lp in scored.logprobs[1:])
    (request,) = recorded()
    assert request["uri"].endswith("/v1/completions")
    assert request["body"] == {"model": "stub-model", "prompt": "Paris is the capital of France.",
                                           "max_tokens": 1, "echo": True, "logprobs": 0, "temperature": 0}
