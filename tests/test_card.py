"""The dataset card is built from the run's manifest: every section says what the manifest holds.

Runs against: no model and no server (hand-written manifests and run outputs).
"""

import json
from pathlib import Path

import pytest
import yaml

from codeclm.publish.card import CardError, UNKNOWN_LICENCE, dataset_card, licence, program_yaml, read_manifest
from codeclm.models.config import ProgramConfig, load_config

CHECK = {"scheme": "target-loss", "judge_model": "openai/smollm2-135m-instruct", "target_model": "openai/smollm2-135m-instruct",
         "theta": 1.0, "min_accuracy": 0.75, "items": 60, "correct": 49, "failed": 0, "accuracy": 49 / 60,
         "ci_low": 0.70, "ci_high": 0.89, "sign_accuracy": 0.55, "by_decision": {"keep": "27/33", "send_back": "22/27"},
         "by_family": {}, "seconds_per_item": 0.8, "passed": True, "verdict": "passed", "calls": 120}


def manifest_for(tmp_path: Path, **changes) -> dict:
    config = load_config("codeclm", ["models.strong={model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}",
                                     "models.target={model: my-llama, api_base: 'http://gpu:8000/v1', chat_template: llama3}",
                                     f"cache.path={tmp_path / 'calls.sqlite'}"])
    manifest = {
        "program": "codeclm", "output": str(tmp_path / "codeclm.jsonl"), "dropped_output": str(tmp_path / "codeclm.dropped.jsonl"),
        "kept": 2, "dropped": 1, "dropped_by_reason": {"filtered at guard": 1}, "iterations": {"1": 1, "2": 1},
        "kept_by_source": {"strong": 2}, "models": {"strong": "gpt-4o-mini", "target": "openai/my-llama", "judge": "openai/my-llama"},
        "judge": {"scheme": "target-loss", "theta": 1.0, "check": CHECK},
        "answer_guards": {"strong": {"answers": 3, "ok": 2, "cut_off": 1}},
        "seeds": {"path": "benchmark:self_instruct", "split": "self_instruct:seed"},
        "benchmark_overlap": {"rule": "a shared run of 8 words, or ROUGE-L F1 > 0.7", "checked": 2, "overlapping": 1,
                              "by_split": {"vicuna:test": 1}},
        "templates": {"encode": "a" * 64, "respond": "b" * 64}, "tuned": None,
        "config": config.model_dump(mode="json"), "versions": {"python": "3.11.7", "codeclm": "0.2.0", "dspy": "3.4.1"},
        "status": "finished", "usage": {"roles": {"strong": {"calls": 7, "prompt_tokens": 900, "completion_tokens": 400}}},
        "fingerprint": {"sha256": "f" * 64, "seeds": {"count": 2}},
    }
    manifest.update(changes)
    return manifest


def write_run(tmp_path: Path, **changes) -> Path:
    """A run's three files as `codeclm run` writes them: kept records, dropped items, manifest."""
    data = tmp_path / "codeclm.jsonl"
    data.write_text("".join(json.dumps({"id": f"m{i}-i0", "instruction": f"Task {i}.", "response": f"Answer {i}.",
                                        "response_source": "strong", "iteration": i}) + "\n" for i in (1, 2)))
    (tmp_path / "codeclm.dropped.jsonl").write_text(json.dumps({"id": "m3-i0", "kind": "filtered", "stage": "guard",
                                                                "reason": "strong answer cut off"}) + "\n")
    (tmp_path / "codeclm.manifest.json").write_text(json.dumps(manifest_for(tmp_path, **changes)))
    return data


def test_card_holds_the_runs_provenance(tmp_path):
    card = dataset_card(read_manifest(write_run(tmp_path)), title="me/data")
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train.jsonl"}]}]
    # models per role with their licences
    assert "| strong | `gpt-4o-mini` | OpenAI Terms of Use" in card and "| 7 | 900 / 400 |" in card
    assert f"| target | `openai/my-llama` | {UNKNOWN_LICENCE}" in card
    # the filter and its check figures, with n and the interval
    assert "scheme `target-loss`, theta 1.0" in card
    assert "49/60 right at theta 1 (82%, 95% Wilson interval 70%-89%, n = 60); keep 27/33 right, send back 22/27 right" in card
    # counts per stage and Self-Rubrics iteration
    for row in ("| seed instructions | 2 (`benchmark:self_instruct`, self_instruct:seed split) |", "| dropped: filtered at guard | 1 |",
                "| kept at Self-Rubrics iteration 2 | 1 |", "| answer guards (strong) | answers 3, ok 2, cut_off 1 |"):
        assert row in card
    assert "1 of 2 kept instructions overlap" in card and "vicuna:test 1" in card
    assert f"| encode | `{'a' * 64}` |" in card and "pip install 'codeclm==0.2.0'" in card
    assert str(tmp_path) not in card  # no local paths


def test_program_file_in_the_card_loads_back(tmp_path):
    manifest = manifest_for(tmp_path)
    text = program_yaml(manifest)
    config = ProgramConfig.model_validate(yaml.safe_load(text))
    assert config.models.strong.model == "gpt-4o-mini" and config.models.target.chat_template == "llama3"
    assert config.prompts == "prompts" and config.output == "data/codeclm.jsonl" and "null" not in text


def test_check_not_run_is_said(tmp_path):
    card = dataset_card(manifest_for(tmp_path, judge={"scheme": "target-loss", "theta": 1.0, "check": None}), title="x")
    assert "Filter check: **not run**" in card


def test_licences():
    assert licence("local:smollm2-135m-instruct") == "Apache-2.0"
    assert licence("openai/qwen2.5-coder-1.5b-instruct") == "Apache-2.0"
    assert licence("llama-3.1-8b-instruct") == "Llama 3.1 Community License"
    assert licence("some-new-model") == UNKNOWN_LICENCE


def test_missing_or_broken_manifest(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("{}\n")
    with pytest.raises(CardError, match="d.manifest.json: not found"):
        read_manifest(data)
    (tmp_path / "d.manifest.json").write_text("{not json")
    with pytest.raises(CardError, match="not a JSON manifest"):
        read_manifest(data)
