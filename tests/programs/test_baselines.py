"""Baseline programs on fake LMs: Self-Instruct drops near-duplicates, Evol-Instruct evolves and eliminates,
CodecLM's no-metadata ablation generates from the seeds; all write the common Record format.
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import itertools
import json

import pytest
from fakes import ScriptedLM, field_value

import codeclm.output.records
from codeclm.output.records import seed_id
from codeclm.programs import build_program
from codeclm.programs.filters import NearDuplicates, eliminated, unsuitable
from codeclm.models.config import load_config
from codeclm.errors import ConfigError
from codeclm.run import run

SEEDS = ["Give three tips for staying healthy.", "Write a haiku about autumn leaves.", "Explain how a bicycle gear works."]


class FieldLM(ScriptedLM):
    """ScriptedLM keyed by the output field the active step asks for (its signature's first output)."""

    def __init__(self, answers):
        from codeclm.steps.base import ACTIVE_STEP

        def script(step, messages):
            field = next(iter(ACTIVE_STEP.get().signature.output_fields))
            return answers["score_1" if field in ("preferred", "rating") else field](messages)

        super().__init__(script)


def respond(messages):
    return {"response": "Answer to: " + field_value(messages, "instruction")}


@pytest.fixture
def seeds_file(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps({"instruction": s}) + "\n" for s in SEEDS))
    return path


def config(root, name, tmp_path, seeds_file, *sets):
    return load_config(root / "programs" / f"{name}.yaml", [f"seeds.path={seeds_file}", f"output={tmp_path}/out.jsonl", *sets])


def test_self_instruct_drops_near_duplicates(root, tmp_path, seeds_file):
    batches = itertools.cycle([
        ["Give three tips for staying healthy and fit.",          # near-duplicate of a seed
         "Summarize the story of Hamlet in two sentences.",
         "Summarize the story of Hamlet in two short sentences.",  # near-duplicate of the one before
         "Draw a picture of a cat."],                             # needs images
        ["List four uses of baking soda in a kitchen.", "Translate 'good morning' into French and Spanish."],
    ])
    lm = FieldLM({"new_instructions": lambda m: {"new_instructions": next(batches)}, "response": respond})
    cfg = config(root, "self_instruct", tmp_path, seeds_file, "self_instruct.num_instructions=3", "self_instruct.max_rounds=2")
    result = build_program(cfg, {"strong": lm, "target": lm})(seeds=SEEDS)
    kept = [r.instruction for r in result.records]
    assert kept == ["Summarize the story of Hamlet in two sentences.", "List four uses of baking soda in a kitchen.",
                    "Translate 'good morning' into French and Spanish."]
    reasons = {d.instruction: d.reason for d in result.dropped}
    assert reasons["Give three tips for staying healthy and fit."].startswith("near-duplicate: ROUGE-L")
    assert reasons["Summarize the story of Hamlet in two short sentences."].startswith("near-duplicate")
    assert "non-text" in reasons["Draw a picture of a cat."]
    record = result.records[0]
    assert record.metadata is None and record.judge is None and record.response_source == "strong"
    assert record.response == "Answer to: " + record.instruction and record.program == "self_instruct"


def test_self_instruct_call_budget(root, tmp_path, seeds_file):
    new = ["List four uses of baking soda.", "Translate 'good morning' into French.",
           "Explain why leaves change color in fall.", "Suggest a name for a small bakery."]
    lm = FieldLM({"new_instructions": lambda m: {"new_instructions": new}, "response": respond})
    cfg = config(root, "self_instruct", tmp_path, seeds_file, "self_instruct.max_calls=3", "self_instruct.num_instructions=10")
    result = build_program(cfg, {"strong": lm})(seeds=SEEDS)
    assert len(lm.calls) == 3 and len(result.records) == 2  # 1 generation + 2 answers


def test_near_duplicates_and_filters():
    pool = NearDuplicates(0.7, ["Write a poem about the sea."])
    assert pool.match("Write a poem about the blue sea.")[0] > 0.7
    assert pool.match("Explain the causes of the French Revolution.") is None
    assert unsuitable("Hi") and unsuitable("Plot the data in a graph.") and unsuitable("Explain what a prime number is.") is None
    assert eliminated("Do X.", "do  x.") and eliminated("Do X.", "#Rewritten Prompt#: do Y") and eliminated("a", "b", "Sorry, I can't.")
    assert eliminated("Do X.", "Do X in 3 steps.", "Step 1 ...") is None


def test_evol_instruct_evolves_and_eliminates(root, tmp_path, seeds_file):
    def evolve(messages):
        instruction = field_value(messages, "instruction")
        if instruction.startswith("Write a haiku"):
            return {"evolved_instruction": instruction}  # no information gain: eliminated
        return {"evolved_instruction": instruction + " Use at most 50 words."}
    lm = FieldLM({"evolved_instruction": evolve,
                  "created_instruction": lambda m: {"created_instruction": "Describe a rare festival in Bhutan."},
                  "response": respond})
    cfg = config(root, "evol_instruct", tmp_path, seeds_file, "evol_instruct.breadth_share=0", "evol_instruct.rounds=2")
    result = build_program(cfg, {"strong": lm})(seeds=SEEDS)
    by_id = {r.id: r for r in result.records}
    s0, s1, s2 = (seed_id(s) for s in SEEDS)
    assert set(by_id) == {f"{s0}-e1", f"{s0}-e2", f"{s2}-e1", f"{s2}-e2"}
    assert by_id[f"{s0}-e2"].instruction == SEEDS[0] + " Use at most 50 words. Use at most 50 words."
    assert by_id[f"{s0}-e2"].iteration == 2 and len(by_id[f"{s0}-e2"].actions) == 2 and by_id[f"{s0}-e2"].metadata is None
    assert {d.id for d in result.dropped} == {f"{s1}-e1", f"{s1}-e2"}
    assert all(d.reason.startswith("no information gain") for d in result.dropped)


def test_evol_instruct_breadth(root, tmp_path, seeds_file):
    lm = FieldLM({"created_instruction": lambda m: {"created_instruction": "Describe a rare festival in Bhutan for " + field_value(m, "instruction")[:10]},
                  "response": respond})
    cfg = config(root, "evol_instruct", tmp_path, seeds_file, "evol_instruct.breadth_share=1", "evol_instruct.rounds=1")
    result = build_program(cfg, {"strong": lm})(seeds=SEEDS)
    assert len(result.records) == 3 and all(r.actions == ["breadth"] for r in result.records)


def test_run_writes_baseline_records(root, tmp_path, seeds_file):
    lm = FieldLM({"new_instructions": lambda m: {"new_instructions": ["Compare cats and dogs as pets in one paragraph."]}, "response": respond})
    cfg = config(root, "self_instruct", tmp_path, seeds_file, "self_instruct.num_instructions=1")
    summary = run(cfg, lms={"strong": lm, "target": lm, "judge": lm})
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert summary["kept"] == 1 and codeclm.output.records.Record.model_validate_json(lines[0]).metadata is None


def test_no_metadata_ablation(root, tmp_path, seeds_file):
    def judge(messages):  # the strong answer is better, whatever the order
        first_bad = field_value(messages, "answer_1").startswith("bad")
        return {"score_1": 2 if first_bad else 9, "score_2": 9 if first_bad else 2, "explanation": "-"}
    target = FieldLM({"response": lambda m: {"response": "bad answer"}})
    lm = FieldLM({"new_instructions": lambda m: {"new_instructions": ["Write a new task from " + json.loads(field_value(m, "examples"))[0]]},
                  "response": respond, "score_1": judge})
    cfg = load_config(root / "programs" / "codeclm.yaml", ["ablation.metadata=false", "ablation.self_rubrics=false", "instructions_per_metadata=1",
                                                          "judging.scheme=pairwise-1-10"])
    result = build_program(cfg, {"strong": lm, "target": target, "judge": lm})(seeds=SEEDS)
    assert "encode" not in lm.steps()  # no Encode
    assert sorted(r.instruction for r in result.records) == sorted("Write a new task from " + s for s in SEEDS)
    assert all(r.metadata is None and r.metadata_origin.startswith("seed:") for r in result.records)
    with pytest.raises(ConfigError, match="self_rubrics"):
        load_config(root / "programs" / "codeclm.yaml", ["ablation.metadata=false"])


def test_a_call_budget_charges_a_replayed_item_once():
    from codeclm.programs.budget import CallBudget

    budget = CallBudget(4)
    assert budget.take(2, key="s1-e1") and budget.take(2, key="s1-e1") and budget.used == 2
    assert budget.take(2, key="s2-e1") and not budget.take(2, key="s3-e1") and budget.used == 4
