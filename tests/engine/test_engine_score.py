"""EngineLM.score: prompt log-probabilities from /completions with echo, cached and counted like chat.

Runs against: the stub OpenAI-compatible server tests/engine/fake_openai.py on 127.0.0.1 (a test fake, not a model).
"""

from __future__ import annotations

import pytest
from engine_helpers import SECRET, chat

from codeclm.engine import ScoredText
from codeclm.engine.score import SCORE_FIX
from codeclm.errors import ContextLengthError, PromptScoringUnsupportedError

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")

TEXT = "The quick brown fox jumps"


def test_score_reads_tokens_logprobs_and_offsets_of_the_prompt(make_lm, stub):
    scored = make_lm().score(TEXT)
    assert isinstance(scored, ScoredText)
    assert scored.tokens == ["The", " quick", " brown", " fox", " jumps"]  # the generated token is dropped
    assert scored.offsets == [0, 3, 9, 15, 19]
    assert all(TEXT[at:].startswith(token) for token, at in zip(scored.tokens, scored.offsets))
    assert scored.logprobs == [None, -0.6, -0.7, -0.8, -0.9]
    assert scored.span_logprob(9) == pytest.approx(-0.7 - 0.8 - 0.9)
    assert scored.usage["prompt_tokens"] == 5 and not scored.cache_hit
    (body,) = stub.bodies
    assert body == {"model": "stub-model", "prompt": TEXT, "max_tokens": 1, "echo": True, "logprobs": 0,
                    "temperature": 0}
    assert stub.paths == ["/v1/completions"] and stub.auth_headers == [f"Bearer {SECRET}"]


def test_score_is_cached_apart_from_chat_and_counted(make_lm, stub, ledger):
    lm = make_lm()
    first = lm.score(TEXT)
    again = lm.score(TEXT)
    chat(lm, TEXT)  # the same text as a chat message is another request
    assert again.cache_hit and again.tokens == first.tokens and again.usage["prompt_tokens"] == 0
    assert stub.stats()["requests"] == 2
    row = ledger.summary()["roles"]["strong"]
    assert row["cache_hits"] == 1 and row["calls"] == 2 and row["prompt_tokens"] >= 5


def test_score_retries_transient_failures(make_lm, stub, sleeps):
    stub.script.extend(["500", "garbage"])
    assert make_lm().score(TEXT).tokens[0] == "The"
    assert stub.stats()["requests"] == 3 and len(sleeps) == 2


@pytest.mark.parametrize("fault", ["no-logprobs", "not-found", "echo-ignored"])
def test_endpoint_without_prompt_logprobs_gets_one_clear_line(make_lm, stub, cache, sleeps, fault):
    stub.script.append(fault)
    with pytest.raises(PromptScoringUnsupportedError) as err:
        make_lm().score(TEXT)
    message = str(err.value)
    assert "\n" not in message and "cannot score prompts" in message
    assert message.endswith(SCORE_FIX) and "llama-server cannot score prompts" in message
    assert stub.stats()["requests"] == 1 and sleeps == [] and len(cache) == 0


def test_score_context_overflow_is_an_item_level_error(make_lm, stub):
    stub.script.append("ctx-llama")
    with pytest.raises(ContextLengthError):
        make_lm().score(TEXT)


def test_score_through_litellm_is_refused_with_the_fix(make_lm, stub):
    with pytest.raises(PromptScoringUnsupportedError, match="LLM-judge scheme"):
        make_lm(model="anthropic/claude-3-5-haiku").score(TEXT)
    assert stub.stats()["requests"] == 0
