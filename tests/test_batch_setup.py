"""Which batch API each role's calls go to, keys from the environment, and the Anthropic message mapping.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

from __future__ import annotations

import pytest
import yaml

from codeclm.models.config import load_config
from codeclm.errors import ConfigError
from codeclm.executors.batch_anthropic import AnthropicBatches, chat_completion, messages_params
from codeclm.executors.batch_openai import OpenAIBatches
from codeclm.executors.batch_provider import UnbatchableRequest
from codeclm.executors.batch_setup import batch_providers


def config(tmp_path, models, *overrides):
    path = tmp_path / "program.yaml"
    path.write_text(yaml.safe_dump({"models": models, "seeds": {"path": "s.txt"}, "output": "o.jsonl"}))
    return load_config(path, list(overrides))


def test_auto_sends_openai_and_anthropic_models_to_their_batch_apis_and_keeps_other_endpoints_direct(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-0123456789")
    monkeypatch.setenv("MY_ANTHROPIC", "sk-ant-0123456789")
    routes = batch_providers(config(tmp_path, {
        "strong": {"model": "gpt-4o-mini"},
        "judge": {"model": "anthropic/claude-3-5-haiku-latest", "api_key_env": "MY_ANTHROPIC"},
        "target": {"model": "my-llama", "api_base": "http://localhost:8000/v1"},
    }))
    assert set(routes) == {"strong", "judge"}  # the target's vLLM has no batch API: its calls go out directly
    assert isinstance(routes["strong"], OpenAIBatches) and routes["strong"].ident == "openai https://api.openai.com/v1"
    assert isinstance(routes["judge"], AnthropicBatches) and routes["judge"].ident == "anthropic https://api.anthropic.com"


def test_roles_on_one_account_share_a_provider_so_their_calls_share_batches(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-0123456789")
    routes = batch_providers(config(tmp_path, {"strong": {"model": "gpt-4o-mini"}, "target": {"model": "gpt-4o-mini"}}))
    assert routes["strong"] is routes["target"] is routes["judge"]


@pytest.mark.parametrize("models, message", [
    ({"strong": {"model": "gpt-4o-mini"}, "target": {"local": "smollm2-135m-instruct"}},
     "program.yaml: models.strong.api_key_env: environment variable OPENAI_API_KEY is not set; --executor batch"),
    ({"strong": {"local": "smollm2-135m-instruct", "batch_api": "openai"}, "target": {"local": "smollm2-135m-instruct"}},
     "program.yaml: models.strong.batch_api: openai: an embedded local model has no batch API"),
    ({"strong": {"model": "gpt-4o-mini", "batch_api": "anthropic"}, "target": {"local": "smollm2-135m-instruct"}},
     "program.yaml: models.strong.batch_api: anthropic needs an anthropic/ model id"),
])
def test_a_bad_batch_setup_is_one_line_naming_the_file_key_and_fix(tmp_path, monkeypatch, models, message):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError) as error:
        batch_providers(config(tmp_path, models))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_openai_batch_api_at_another_server_is_explicit(tmp_path, monkeypatch):
    monkeypatch.setenv("PROXY_KEY", "sk-proxy-0123456789")
    routes = batch_providers(config(tmp_path, {
        "strong": {"model": "gpt-4o-mini", "api_base": "https://proxy.example/v1", "api_key_env": "PROXY_KEY",
                   "batch_api": "openai"},
        "target": {"model": "gpt-4o-mini", "api_base": "https://proxy.example/v1", "api_key_env": "PROXY_KEY",
                   "batch_api": "none"},
    }))
    assert routes["strong"].ident == "openai https://proxy.example/v1" and "target" not in routes


def test_an_openai_chat_body_becomes_a_messages_request():
    body = {"model": "anthropic/claude-3-5-haiku-latest", "temperature": 0.7, "max_tokens": 256, "seed": 3, "stop": "END",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                         {"role": "assistant", "content": "Hello"},
                         {"role": "user", "content": [{"type": "text", "text": "And?"}]}]}
    assert messages_params(body) == {
        "model": "claude-3-5-haiku-latest", "max_tokens": 256, "system": "Be brief.", "temperature": 0.7,
        "stop_sequences": ["END"],  # seed: Anthropic has none
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                     {"role": "user", "content": [{"type": "text", "text": "And?"}]}]}


@pytest.mark.parametrize("change, reason", [
    ({"logprobs": True}, "parameter logprobs has no Anthropic Messages equivalent"),
    ({"max_tokens": None}, "Anthropic requires max_tokens"),
    ({"temperature": 1.4}, "temperature 1.4 is above Anthropic's maximum of 1"),
    ({"n": 2}, "n > 1"),
])
def test_what_does_not_map_to_messages_is_refused_with_the_reason(change, reason):
    body = {"model": "anthropic/claude", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}], **change}
    with pytest.raises(UnbatchableRequest, match=reason):
        messages_params(body)


@pytest.mark.parametrize("stop_reason, finish", [("end_turn", "stop"), ("max_tokens", "length"), ("stop_sequence", "stop")])
def test_a_message_reads_back_as_an_openai_chat_completion(stop_reason, finish):
    reply = chat_completion({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest",
                             "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}],
                             "stop_reason": stop_reason, "usage": {"input_tokens": 12, "output_tokens": 3,
                                                                   "cache_read_input_tokens": 4}})
    assert reply["choices"][0] == {"index": 0, "message": {"role": "assistant", "content": "Hello there"},
                                   "finish_reason": finish}
    assert (reply["usage"]["prompt_tokens"], reply["usage"]["completion_tokens"]) == (16, 3)
