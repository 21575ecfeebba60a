"""Item ids come from content: a rerun with more seeds, more metadata, or after an encode that failed before
keeps every finished item with its id and its metadata, and adds the new ones once.
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json

import pytest
from fakes import ScriptedLM, field_value, word_scores
from pipeline_scripts import strong_script

from codeclm.models.config import load_config
from codeclm.errors import CodecLMError
from codeclm.output.records import content_id
from codeclm.run import run
from codeclm.steps.signatures import Metadata
from codeclm.output.sink import dropped_path

SEEDS = ["Write a Python function that checks for palindromes.", "Plan a weekend in Rome on a budget.",
         "Summarize the news about the Mars rover.", "Explain how vaccines train the immune system."]


def lms(fail_encode_for: str | None = None, fail_rubrics: bool = False):
    base = strong_script()

    def script(step, messages):
        if step == "encode":
            text = field_value(messages, "instruction")
            if fail_encode_for and fail_encode_for in text:
                return "not the format at all"
            topic = text.split()[1].lower()
            return {"use_case": f"{topic} tasks", "skills": [f"{topic} skill", "writing"]}
        if step == "rubrics" and fail_rubrics:
            return "garbage"
        return base(step, messages)

    target = ScriptedLM(lambda s, m: {"response": "?"}, scorer=word_scores(lambda t, k: -0.2 if "harder" not in t else -3.0))
    return {"strong": ScriptedLM(script), "target": target}


def config(root, tmp_path, seeds: int, metadata: int, *more):
    (tmp_path / "seeds.txt").write_text("\n".join(SEEDS[:seeds]))
    return load_config(root / "programs" / "codeclm.yaml", [f"seeds.path={tmp_path / 'seeds.txt'}", f"num_metadata={metadata}",
                                                             "seeds.limit=null", "instructions_per_metadata=2", "max_iterations=2",
                                                             "judging.check.enabled=false",
                                                             f"cache.path={tmp_path / 'calls.sqlite'}", *more])


def output(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows), "an item was written twice"
    return {r["id"]: r for r in rows}


def consistent(records):
    """Each id names its own metadata: an item can never be matched to another metadata."""
    for rid, r in records.items():
        assert rid.split("-")[0] == content_id("m", Metadata(**r["metadata"]).key())
        assert rid.split("-")[1] == content_id("i", " ".join(r["history"][0]["instruction"].split()), length=8)


@pytest.mark.parametrize("change", [{"seeds": 3}, {"metadata": 4}])
def test_more_seeds_or_metadata_keep_every_finished_item(root, tmp_path, change):
    out = tmp_path / "data.jsonl"
    run(config(root, tmp_path, 2, 2), output=str(out), lms=lms())
    first = output(out)
    with pytest.raises(CodecLMError, match="made by another program"):
        run(config(root, tmp_path, change.get("seeds", 2), change.get("metadata", 2)), output=str(out), lms=lms())
    run(config(root, tmp_path, change.get("seeds", 2), change.get("metadata", 2)), output=str(out), lms=lms(), extend=True)
    second = output(out)
    assert {k: second[k] for k in first} == first and len(second) > len(first)
    consistent(second)


def test_an_encode_that_failed_then_succeeds_adds_its_items_without_shifting_ids(root, tmp_path):
    out = tmp_path / "data.jsonl"
    run(config(root, tmp_path, 3, 3), output=str(out), lms=lms(fail_encode_for="Summarize"))
    first = output(out)
    failed = [json.loads(line) for line in dropped_path(out).read_text().splitlines()]
    assert [d["stage"] for d in failed if d["kind"] == "failed"] == ["encode"]
    run(config(root, tmp_path, 3, 3), output=str(out), lms=lms())  # same program: no --extend needed
    second = output(out)
    assert {k: second[k] for k in first} == first and len(second) > len(first)
    consistent(second)


def test_a_failed_self_rubrics_call_is_recorded_and_its_items_are_retried_not_filtered(root, tmp_path):
    out = tmp_path / "data.jsonl"
    summary = run(config(root, tmp_path, 2, 2), output=str(out), lms=lms(fail_rubrics=True))
    dropped = [json.loads(line) for line in dropped_path(out).read_text().splitlines()]
    rubrics = [d for d in dropped if d["stage"] == "rubrics"]
    assert {d["kind"] for d in rubrics} == {"failed"} and any("-" not in d["id"] for d in rubrics)  # the metadata itself
    items = [d for d in rubrics if "-" in d["id"]]
    assert items and all("Self-Rubrics failed for metadata" in d["reason"] for d in items)
    assert not [d for d in dropped if d["kind"] == "filtered"] and summary["kept"] == 0
