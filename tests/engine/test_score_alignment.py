"""Target-loss reads exactly the answer's tokens: offsets come from laying the server's tokens over the
text sent, never from its ``text_offset``; tokens that do not reassemble the text are one clear error.

vLLM replies are built by vLLM 0.11.0's own offset logic (``vllm_replies.py``; no GPU here, so no real
vLLM); the external llama-cpp-python server is tested for real in tests/local/test_external_llama_cpp_python.py.

Runs against: replies hand-written by vLLM's offset logic (tests/engine/vllm_replies.py), no server.
"""

from __future__ import annotations

import pytest
from engine_helpers import SECRET
from vllm_replies import TOKENIZERS, tokenizer_for, vllm_reply

from codeclm.engine.chat_formats import NAMED, prompt_prefix
from codeclm.engine.score import MISALIGNED_FIX, PREFIX_CACHING_FIX, SCORE_FIX, align, scored_text, unsupported_fix
from codeclm.errors import PromptScoringUnsupportedError

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")

SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France? 🙂"
ANSWERS = ["The capital of France is Paris.", "Paris 🙂 déjà vu, naïve café: 東京 is not it."]


def test_every_named_template_has_a_vllm_tokenizer_here():
    assert set(TOKENIZERS) == set(NAMED)


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("template", sorted(NAMED))
def test_vllm_reply_scores_exactly_the_answer_tokens(template, answer):
    """The answer's tokens, and only they, are read past the prefix, each with its own logprob."""
    prefix = prompt_prefix(template, SYSTEM, QUESTION)
    text = prefix + answer
    reply = vllm_reply(template, text)
    scored = scored_text(reply, text)

    # What the server tokenized, independently: HF tokenizers' own character offsets of every token.
    encoding = tokenizer_for(template).encode(text)
    bos = TOKENIZERS[template][0]
    expected = [i for i, (token, (start, _)) in enumerate(zip(encoding.tokens, encoding.offsets))
                if start >= len(prefix) and token != bos]
    logprobs = reply["choices"][0]["logprobs"]["token_logprobs"]
    answer_tokens = [(lp, at) for lp, at in zip(scored.logprobs, scored.offsets) if at >= len(prefix)]
    assert [lp for lp, _ in answer_tokens] == [logprobs[i] for i in expected]
    assert all(len(prefix) <= at < len(text) for _, at in answer_tokens)
    assert len(scored.tokens) == len(encoding.ids) - (1 if bos else 0)  # no BOS, no generated token
    assert not text.startswith(tuple(b for b, _, _ in TOKENIZERS.values() if b))  # the text never carries a BOS


@pytest.mark.parametrize("template", ["llama3", "mistral", "gemma"])
def test_vllm_text_offset_alone_would_misread_the_answer(template):
    """The reason offsets are rebuilt: vLLM's text_offset counts the BOS it added (17 characters for llama3)."""
    prefix = prompt_prefix(template, SYSTEM, QUESTION)
    text = prefix + ANSWERS[0]
    logprobs = vllm_reply(template, text)["choices"][0]["logprobs"]
    by_server = [t for t, at in zip(logprobs["tokens"], logprobs["text_offset"]) if len(prefix) <= at < len(text)]
    scored = scored_text(vllm_reply(template, text), text)
    by_us = [t for t, at in zip(scored.tokens, scored.offsets) if at >= len(prefix)]
    assert by_server != by_us


@pytest.mark.parametrize("template", ["llama3", "mistral", "gemma"])
def test_a_doubled_bos_is_refused(template):
    """A text that carries the BOS the server adds again: the model reads two, every value changes."""
    bos = TOKENIZERS[template][0]
    text = bos + prompt_prefix(template, SYSTEM, QUESTION) + ANSWERS[0]
    with pytest.raises(PromptScoringUnsupportedError, match="do not reassemble"):
        scored_text(vllm_reply(template, text), text)


def test_vllm_without_special_tokens_added_lines_up_too():
    text = prompt_prefix("chatml", SYSTEM, QUESTION) + ANSWERS[1]
    scored = scored_text(vllm_reply("chatml", text, add_special_tokens=False), text)
    assert scored.offsets[0] == 0 and scored.logprobs[0] is None


def test_align_cases():
    text = "<|im_start|>user\nhi 🙂 there"
    assert align(["<|begin_of_text|>", "<|im_start|>", "user", "\n", "hi", " \ufffd", "\ufffd", " there", "."], text) == \
        [None, 0, 12, 16, 17, 19, 20, 21, None]
    assert align(["<|im_start|>", "user", "\n", "hi", " \ufffd", "\ufffd\ufffd there"], text) == [0, 12, 16, 17, 19, 20]
    assert align(["<|im_start|>", "user", "\n", "hi ", "\ufffd", "\ufffd"], "<|im_start|>user\nhi 🙂") == [0, 12, 16, 17, 20, 20]
    assert align(["", "user"], "<|im_start|>user") is None  # a special token decoded as empty text
    assert align(["", "\n"], "<|im_end|>\n") is None
    assert align(["a", "", " 37"], "a\u2248 37") == [0, 1, 2]  # a split character decoded with errors="ignore"
    assert align(["[INST]", "", "You"], "[INST] You") == [0, 6, 7]  # a lone SentencePiece space decoded alone
    assert align(["<s>", "<s>", "user"], "<s>user") is None  # doubled BOS
    assert align(["Hello", "world"], "Hello world") == [0, 6]  # SentencePiece decode dropped the space
    assert align(["Hello", "there"], "Hello world") is None
    assert align(["Hel"], "Hello") is None  # too short


def test_misaligned_reply_names_the_server_and_the_fix(make_lm, stub, cache, sleeps):
    stub.script.append("misaligned")
    with pytest.raises(PromptScoringUnsupportedError) as err:
        make_lm().score("The quick brown fox jumps")
    message = str(err.value)
    assert "\n" not in message and "at " + stub.url in message and SECRET not in message
    assert "do not reassemble" in message and message.endswith(MISALIGNED_FIX)
    assert "python -m llama_cpp.server" in message and "embedded" in message and "vLLM" in message
    assert len(cache) == 0 and sleeps == []  # nothing cached, not retried


def test_fix_texts_agree():
    assert "llama-server" in SCORE_FIX and "vLLM" in SCORE_FIX and "docs/servers.md" in SCORE_FIX
    assert unsupported_fix("Prefix caching with prompt logprobs not yet supported on VLLM V1.") == PREFIX_CACHING_FIX
    assert "--no-enable-prefix-caching" in PREFIX_CACHING_FIX
    assert unsupported_fix("HTTP 400: Only no echo is supported") == SCORE_FIX


def test_vllm_prefix_caching_error_gets_its_own_fix(make_lm, stub, monkeypatch):
    from codeclm.engine.failures import HTTPStatusFailure

    lm = make_lm()

    def refuse(*args, **kwargs):
        raise HTTPStatusFailure(400, "Prefix caching with prompt logprobs not yet supported on VLLM V1.")

    monkeypatch.setattr(lm.http, "post", refuse)
    with pytest.raises(PromptScoringUnsupportedError) as err:
        lm.score("The quick brown fox jumps")
    assert str(err.value).endswith(PREFIX_CACHING_FIX)
