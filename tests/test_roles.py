"""Roles -> LMs: keys from the environment only, and a local model's cache survives a new port.

Runs against: tests/stub_server.py (scripted replies: a fake, not a model).
"""

from contextlib import ExitStack

import dspy
import pytest
from stub_server import StubServer

import codeclm.local
from codeclm.models.config import ModelSpec
from codeclm.engine import CallCache
from codeclm.errors import ConfigError
from codeclm.engine import Engine, UsageLedger
from codeclm.models.roles import make_lm, resolve_endpoint, role_specs


def test_missing_key_variable_is_a_config_error(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    spec = ModelSpec(model="gpt-4o-mini", api_key_env="NO_SUCH_KEY_VAR")
    with pytest.raises(ConfigError, match="p.yaml: models.strong.api_key_env: environment variable NO_SUCH_KEY_VAR is not set"):
        resolve_endpoint("strong", spec, ExitStack(), "p.yaml")


def test_endpoint_model_ids_get_the_openai_compatible_prefix(monkeypatch):
    monkeypatch.setenv("K", "secret-value-123")
    endpoint = resolve_endpoint("target", ModelSpec(model="my-llama", api_base="http://h/v1", api_key_env="K"), ExitStack(), "p.yaml")
    assert (endpoint.model, endpoint.api_key, endpoint.cache_id) == ("openai/my-llama", "secret-value-123", None)


def test_local_model_cache_survives_a_new_server_port(tmp_path, monkeypatch):
    """An embedded server listens on a new port each start; a rerun must still hit the cache."""
    with StubServer(responder=lambda body: "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]") as stub:
        ports = iter([stub.url, "http://127.0.0.1:9/v1"])  # the second "start" is somewhere else entirely
        monkeypatch.setattr(codeclm.local, "open_endpoint",
                            lambda name, stack, logprobs=False: codeclm.local.LocalEndpoint(next(ports), name, name, True))
        spec = ModelSpec(local="smollm2-135m-instruct")
        engine = Engine(cache=CallCache(tmp_path / "calls.sqlite"), ledger=UsageLedger())
        answers = []
        for _ in range(2):
            lm = make_lm("strong", spec, resolve_endpoint("strong", spec, ExitStack(), "p.yaml"), engine)
            with dspy.context(lm=lm):
                answers.append(dspy.Predict("question -> answer")(question="Capital of France?").answer)
        assert answers == ["Paris", "Paris"] and stub.stats()["requests"] == 1


def test_the_judge_defaults_to_the_strong_model(root):
    from codeclm.models.config import load_config

    config = load_config(root / "programs" / "codeclm.yaml")
    assert role_specs(config)["judge"] == config.models.strong
    judged = load_config(root / "programs" / "codeclm.yaml", ["models.judge={model: gpt-4o-mini}"])
    assert role_specs(judged)["judge"].model == "gpt-4o-mini"


def test_a_models_own_temperature_and_cap_override_every_step(tmp_path):
    """ModelSpec.temperature / max_tokens are read: the request carries them whatever the step asks for."""
    seen = []
    reply = "[[ ## use_case ## ]]\ngreeting\n\n[[ ## skills ## ]]\n[\"politeness\"]\n\n[[ ## completed ## ]]"
    with StubServer(responder=lambda body: seen.append(body) or reply) as stub:
        spec = ModelSpec(model="m", api_base=stub.url, temperature=1.0, max_tokens=77)
        lm = make_lm("strong", spec, resolve_endpoint("strong", spec, ExitStack(), "p.yaml"), Engine(cache=None, ledger=UsageLedger()))
        from codeclm.steps.encode import Encode
        from codeclm.prompting.templates import PromptLibrary
        from pathlib import Path

        step = Encode(PromptLibrary(Path(__file__).parent.parent / "prompts", {"num_skills": 3}).render("encode"), lm, temperature=0.0, max_tokens=10)
        metadata = step(instruction="Say hi", key="k")
    assert metadata.use_case == "greeting" and metadata.skills == ["politeness"]  # the reply came back through the step
    assert len(seen) == 1 and all(b["temperature"] == 1.0 and b["max_tokens"] == 77 for b in seen)


def test_a_local_logprob_judge_gets_a_server_with_generation_logprobs(monkeypatch, root):
    from codeclm.models.config import load_config
    from codeclm.models.roles import RoleLMs

    opened = []
    monkeypatch.setattr(codeclm.local, "open_endpoint",
                        lambda name, stack, logprobs=False: opened.append((name, logprobs))
                        or codeclm.local.LocalEndpoint(f"http://127.0.0.1:9/{name}", name, name, True))
    for scheme, expected in (("target-loss", False), ("pointwise-logprob", True)):
        opened.clear()
        config = load_config(root / "programs" / "codeclm.yaml", [f"judging.scheme={scheme}"])
        RoleLMs(Engine(cache=None, ledger=UsageLedger()), ExitStack(), "p.yaml").for_program(config)
        judge, target = config.models.strong.local, config.models.target.local  # the shipped program's (the judge is the strong)
        assert judge != target and dict(opened)[judge] is expected and dict(opened)[target] is False


def test_a_logprob_judge_asked_for_later_gets_its_own_local_server(monkeypatch):
    """`judge check --all` on a target-loss program: the judge's server was started without logprobs."""
    from codeclm.models.roles import RoleLMs

    opened = []
    monkeypatch.setattr(codeclm.local, "open_endpoint",
                        lambda name, stack, logprobs=False: opened.append(logprobs)
                        or codeclm.local.LocalEndpoint(f"http://127.0.0.1:9/{len(opened)}", name, name, True))
    roles = RoleLMs(Engine(cache=None, ledger=UsageLedger()), ExitStack(), "p.yaml")
    spec = ModelSpec(local="qwen2.5-coder-1.5b-instruct")
    first, again, judge = roles.lm("strong", spec), roles.lm("strong", spec), roles.lm("judge", spec, logprobs=True)
    assert opened == [False, True] and first.api_base == again.api_base != judge.api_base
    assert roles.lm("strong", spec, logprobs=True).api_base == judge.api_base  # now one with logprobs is shared
