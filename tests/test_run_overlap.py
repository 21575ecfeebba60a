"""The run summary says where the seeds come from and counts kept instructions that overlap a benchmark item.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json

from fakes import ScriptedLM, word_scores

from codeclm.models.config import load_config
from codeclm.evaluation import load_benchmark
from codeclm.run import manifest_path, run

LEAKED = load_benchmark("vicuna")[1][0].instruction  # a vicuna test item, copied by the "strong model"


def strong(step, messages):
    if step == "encode":
        return {"use_case": "advice", "skills": ["stress management"]}
    if step == "decode":
        return {"new_instructions": [LEAKED, "Plan a quiet three-day walking holiday in the Scottish Highlands."]}
    return {"response": "Sleep well, move every day and talk to people you trust about what weighs on you."}


def test_summary_and_manifest_count_benchmark_overlap_and_name_the_seed_split(root, tmp_path):
    config = load_config(root / "programs" / "codeclm.yaml", ["num_metadata=1", "instructions_per_metadata=2", "max_iterations=1",
                                                              "judging.check.enabled=false", "cache.enabled=false", "seeds.limit=1"])
    out = tmp_path / "out.jsonl"
    target = ScriptedLM(lambda s, m: {"response": "?"}, scorer=word_scores(lambda text, token: -2.0))  # hard: kept
    summary = run(config, output=str(out), lms={"strong": ScriptedLM(strong), "target": target})
    assert summary["kept"] == 2
    overlap = summary["benchmark_overlap"]
    assert (overlap["checked"], overlap["overlapping"], overlap["by_split"]) == (2, 1, {"vicuna:test": 1})
    assert overlap["examples"][0]["instruction"] == LEAKED and overlap["examples"][0]["item_id"] == "vicuna:test:2"
    assert "8 words" in overlap["rule"] and "0.7" in overlap["rule"]
    assert summary["seeds"]["path"] == "benchmark:self_instruct" and summary["seeds"]["split"] == "self_instruct:seed"
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["benchmark_overlap"]["overlapping"] == 1 and manifest["seeds"]["split"] == "self_instruct:seed"


def test_the_printed_summary_shows_the_seed_split_and_the_overlap_count(monkeypatch):
    from rich.console import Console

    from codeclm import cli

    monkeypatch.setattr(cli, "console", Console(record=True, width=300))
    summary = {"program": "codeclm", "kept": 2, "dropped_by_reason": {}, "kept_by_source": {}, "iterations": {},
               "wall_seconds": 1.0, "output": "out.jsonl",
               "seeds": {"path": "benchmark:self_instruct", "split": "self_instruct:seed"},
               "benchmark_overlap": {"checked": 2, "overlapping": 1, "by_split": {"vicuna:test": 1}}}
    cli._print_summary(summary)
    text = " ".join(cli.console.export_text().split())
    assert "benchmark:self_instruct = self_instruct:seed split" in text
    assert "1 of 2 kept instructions (vicuna:test 1)" in text
