"""Program files: validated on load; every error is one line naming the file and the key.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import pytest
import yaml

from codeclm.models.config import load_config
from codeclm.errors import ConfigError

MINIMAL = {
    "models": {"strong": {"model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}, "target": {"local": "smollm2-135m-instruct"}},
    "seeds": {"path": "seeds.txt"},
    "output": "out.jsonl",
}


def write(tmp_path, data, name="program.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_shipped_program_loads(root):
    config = load_config(root / "programs" / "codeclm.yaml")
    assert config.models.strong.local and config.max_iterations >= 1
    assert config.resolve(config.prompts).resolve() == (root / "prompts").resolve()


def test_defaults_follow_the_paper(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert (config.max_iterations, config.theta, config.num_rubrics, config.num_skills) == (4, 3.0, 4, 3)
    assert config.generation.temperature == 0.7 and config.judging.temperature == 0.0


def test_paths_are_relative_to_the_program_file(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.resolve(config.seeds.path) == tmp_path / "seeds.txt"


def test_the_call_cache_is_the_programs_own_file_else_the_user_cache_folders_else_none(tmp_path, monkeypatch):
    """One function decides where a program's calls are cached (the session and a Ray run both ask it)."""
    monkeypatch.setenv("CODECLM_CACHE_DIR", str(tmp_path / "user-cache"))
    assert load_config(write(tmp_path, MINIMAL)).call_cache_path() == tmp_path / "user-cache" / "calls.sqlite"
    assert load_config(write(tmp_path, MINIMAL), ["cache.path=c/calls.db"]).call_cache_path() == tmp_path / "c" / "calls.db"
    assert load_config(write(tmp_path, MINIMAL), ["cache.enabled=false"]).call_cache_path() is None


def test_overrides_parse_yaml_values(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), ["num_metadata=12", "theta=1.5", "models.judge.local=smollm2-135m-instruct"])
    assert config.num_metadata == 12 and config.theta == 1.5
    assert config.models.judge.local == "smollm2-135m-instruct"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_metadta": 3}, r"program\.yaml: num_metadta: unknown key; did you mean num_metadata\?"),
        ({"theta": "high"}, r"program\.yaml: theta: "),
        ({"max_iterations": 0}, r"program\.yaml: max_iterations: "),
        ({"models": {"strong": {"model": "x", "local": "y"}, "target": {"local": "y"}}}, r"models\.strong: give exactly one of"),
        ({"models": {"strong": {"model": "x", "api_key_env": "sk-abc123"}, "target": {"local": "y"}}}, r"models\.strong\.api_key_env: must be the NAME"),
        ({"models": {"strong": {"model": "x", "temprature": 1}, "target": {"local": "y"}}},
         r"models\.strong\.temprature: unknown key; did you mean temperature\?"),
    ],
)
def test_bad_values_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, {**MINIMAL, **change}))


def test_missing_section(tmp_path):
    data = dict(MINIMAL)
    del data["seeds"]
    with pytest.raises(ConfigError, match=r"program\.yaml: seeds: Field required"):
        load_config(write(tmp_path, data))


def test_invalid_yaml_names_line(tmp_path):
    with pytest.raises(ConfigError, match=r"program\.yaml:2: invalid YAML"):
        load_config(write(tmp_path, "name: x\nmodels: {strong: [a}\n"))


def test_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="program file not found"):
        load_config(tmp_path / "absent.yaml")


def test_bad_override_syntax(tmp_path):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(write(tmp_path, MINIMAL), ["num_metadata"])


def test_batch_settings_are_checked_and_left_out_of_the_fingerprint(tmp_path):
    from codeclm.output.fingerprint import fingerprint

    class Program:
        templates, tuned = {}, None

    plain = load_config(write(tmp_path, MINIMAL))
    assert (plain.models.strong.batch_api, plain.models.strong.batch_discount) == ("auto", 0.5)
    batched = load_config(write(tmp_path, MINIMAL), ["models.strong.batch_api=openai", "models.strong.batch_discount=0.3"])
    assert fingerprint(plain, Program, [], {})["sha256"] == fingerprint(batched, Program, [], {})["sha256"]
    # absent, as before these settings existed: outputs made earlier still resume
    assert not {"batch_api", "batch_discount"} & set(fingerprint(batched, Program, [], {})["settings"]["models"]["strong"])
    with pytest.raises(ConfigError, match=r"program.yaml: models.strong.batch_discount: .*less than or equal to 1"):
        load_config(write(tmp_path, MINIMAL), ["models.strong.batch_discount=1.5"])
