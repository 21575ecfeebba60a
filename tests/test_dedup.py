"""Near-duplicates across the whole output: dropped with a record before they cost a strong answer, counted.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json

from fakes import ScriptedLM, field_value
from pipeline_scripts import harder_wins, strong_script

from codeclm import load_config
from codeclm.programs.dedup import NearDuplicateIndex, jaccard, shingles
from codeclm.run import run
from codeclm.output.sink import dropped_path

SEEDS = ["Write a Python function that checks for palindromes.", "Plan a weekend in Rome on a budget."]
LONG = "Write a detailed guide on how to plan a week of healthy vegetarian meals for a family of four on a budget"


def test_the_index_finds_a_near_duplicate_and_names_it():
    index = NearDuplicateIndex()
    assert index.check_and_add("a", LONG) is None
    found = index.check_and_add("b", LONG.replace("four", "five"))
    assert found is not None and found.id == "a" and found.similarity >= 0.7
    assert found.similarity == jaccard(shingles(LONG), shingles(LONG.replace("four", "five")))
    assert index.check_and_add("c", "Explain quantum entanglement to a ten year old child.") is None
    assert index.check_and_add("a", LONG) is None  # itself is no duplicate (a resumed item)
    assert len(index) == 2


def test_near_duplicates_across_metadata_are_dropped_before_their_strong_answer(root, tmp_path):
    base = strong_script(harder_wins)

    def same_for_every_metadata(step, messages):  # every metadata decodes the same two (self-contained) instructions
        if step == "decode":
            return {"new_instructions": [LONG + f" ({field_value(messages, 'use_case')[:4]})",
                                         "Give three ways to save water at home, one sentence each."]}
        return base(step, messages)

    config = load_config(root / "programs" / "codeclm.yaml", [
        "num_metadata=3", "instructions_per_metadata=2", "max_iterations=2", "judging.scheme=pairwise-1-10",
        "judging.check.enabled=false", "cache.enabled=false"])
    strong = ScriptedLM(same_for_every_metadata)
    out = tmp_path / "data.jsonl"
    summary = run(config, seeds_path=None, output=str(out),
                  lms={"strong": strong, "target": ScriptedLM(lambda s, m: {"response": "target answer"})})
    dropped = [json.loads(line) for line in dropped_path(out).read_text().splitlines()]
    dups = [d for d in dropped if d["stage"] == "dedup"]
    assert summary["near_duplicates"] == len(dups) == 4 and summary["kept"] == 2  # 3 metadata x 2, two of them new
    assert all(d["kind"] == "filtered" and "near-duplicate of m" in d["reason"] and "Jaccard" in d["reason"] for d in dups)
    answered = {field_value(m, "instruction").split(" [harder")[0] for step, m, _ in strong.calls if step == "respond"}
    assert len(answered) == 2  # the strong model answered only the two new instructions (and their harder versions)
