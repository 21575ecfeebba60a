"""The direct httpx path: who takes it, what it sends, what it returns, and that it matches litellm.

Runs against: the stub OpenAI-compatible server tests/engine/fake_openai.py on 127.0.0.1 (a test fake, not a model); litellm for comparison.
"""

from __future__ import annotations

import pydantic
import pytest
from engine_helpers import SECRET, chat

from codeclm.engine import EngineLM
from codeclm.engine.reply import Reply

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")


class Answer(pydantic.BaseModel):
    text: str
    score: int


@pytest.mark.parametrize("model,direct", [("openai/gpt-4o-mini", True), ("my-llama-7b", True),
                                          ("anthropic/claude-3-5-haiku", False), ("gemini/gemini-2.0-flash", False)])
def test_openai_compatible_models_take_the_direct_path(model, direct):
    assert EngineLM(model, api_base="http://127.0.0.1:9/v1").direct is direct
    assert EngineLM(model, transport="litellm").direct is False
    assert EngineLM(model, transport="direct").direct is True


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="transport"):
        EngineLM("openai/m", transport="grpc")


def test_direct_path_never_calls_litellm(make_lm, stub, monkeypatch):
    import litellm

    def refuse(*args, **kwargs):
        raise AssertionError("litellm was called on the direct path")

    monkeypatch.setattr(litellm, "completion", refuse)
    reply = chat(make_lm(), "direct please")
    assert isinstance(reply, Reply) and reply.choices[0].message.content.startswith("[[ ## answer")
    assert stub.paths == ["/v1/chat/completions"] and stub.auth_headers == [f"Bearer {SECRET}"]


CALL_PARAMS = dict(temperature=0.3, max_tokens=77, top_p=0.9, stop=["\n\n"], seed=1234, logprobs=True,
                   top_logprobs=5, presence_penalty=0.1, rollout_id=99)


def test_direct_body_is_the_body_litellm_sends(make_lm, stub):
    """Same call on both paths -> the same JSON body (so litellm-recorded cassettes replay on the direct path)."""
    for transport in ("litellm", "direct"):
        chat(make_lm(transport=transport, cache=None), "same body?", **CALL_PARAMS)
    via_litellm, direct = stub.bodies
    assert direct == via_litellm
    assert direct["model"] == "stub-model" and direct["seed"] == 1234
    assert "rollout_id" not in direct and "api_key" not in direct and "timeout" not in direct


def test_pydantic_response_format_is_sent_as_litellm_sends_it(make_lm, stub):
    for transport in ("litellm", "direct"):
        chat(make_lm(transport=transport, cache=None), "json please", response_format=Answer)
    via_litellm, direct = stub.bodies
    assert direct == via_litellm and direct["response_format"]["type"] == "json_schema"


def test_seed_reaches_the_wire_and_rollout_id_only_the_key(make_lm, stub):
    lm = make_lm()
    chat(lm, "seeded", seed=7, rollout_id=1, temperature=0.7)
    chat(lm, "seeded", seed=7, rollout_id=2, temperature=0.7)
    chat(lm, "seeded", seed=8, rollout_id=1, temperature=0.7)
    assert [b["seed"] for b in stub.bodies] == [7, 7, 8]
    assert all("rollout_id" not in b for b in stub.bodies)


def test_lm_level_seed_reaches_the_wire(make_lm, stub):
    chat(make_lm(seed=42), "seed from the constructor")
    assert stub.bodies[0]["seed"] == 42


@pytest.mark.parametrize("transport", ["direct", "litellm"])
def test_finish_reason_and_logprobs_survive_the_call_and_the_cache(make_lm, stub, transport):
    from codeclm.judging.logprobs import token_logprobs

    stub.rich, stub.finish_reason = True, "length"
    stub.stream_tokens = ["[[ ## answer ## ]]\n", "4", "2"]
    lm = make_lm(transport=transport)
    first = chat(lm, "cut short", logprobs=True, top_logprobs=1, max_tokens=3)
    hit = chat(lm, "cut short", logprobs=True, top_logprobs=1, max_tokens=3)
    assert stub.stats()["requests"] == 1 and hit.cache_hit is True
    for reply in (first, hit):
        assert reply.choices[0].finish_reason == "length"
        (output,) = lm._process_completion(reply, {"logprobs": True})  # what DSPy hands the adapter
        assert [t.token for t in token_logprobs(output["logprobs"])] == stub.stream_tokens
        assert output["text"] == "".join(stub.stream_tokens)


def test_same_cache_key_on_both_paths(make_lm, stub):
    chat(make_lm(transport="direct"), "shared")
    hit = chat(make_lm(transport="litellm"), "shared")
    assert hit.cache_hit is True and stub.stats()["requests"] == 1


def test_default_api_base_and_key_come_from_the_openai_environment(monkeypatch, stub):
    monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    lm = EngineLM("gpt-4o-mini", cache=None)
    assert lm.direct and lm.http.api_base == stub.url
    chat(lm, "from env")
    assert stub.auth_headers == [f"Bearer {SECRET}"] and stub.bodies[0]["model"] == "gpt-4o-mini"


def test_copies_share_the_connection_pool(make_lm):
    import copy

    lm = make_lm()
    assert lm.copy(temperature=1.0).http is lm.http
    assert copy.deepcopy(lm).http is lm.http


def test_a_closed_transport_is_replaced(make_lm, stub):
    lm = make_lm(cache=None)
    old = lm.http
    old.close()
    chat(lm, "after close")  # the LM's remembered pool is closed: it must not be reused
    assert lm.http is not old and stub.stats()["requests"] == 1
