"""The composed CodecLM program on fake LMs: the paper's loop, provenance, failures, templates, save/load.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server; tests/stub_server.py for the wire.
"""

import json
import shutil

import pytest
import yaml
from fakes import ScriptedLM, field_value
from pipeline_scripts import STRONG_ANSWER, default_judge, harder_wins, strong_script

from codeclm import CodecLM, Metadata, load_config
from codeclm.output.records import seed_id
from codeclm.run import run
from codeclm.output.sink import dropped_path

SEEDS = ["Write a Python function that checks for palindromes.", "Plan a weekend in Rome on a budget."]


def target_lm():
    return ScriptedLM(lambda step, m: {"response": "target answer"}, model="fake/target")


@pytest.fixture
def config(root):
    return load_config(root / "programs" / "codeclm.yaml", ["num_metadata=2", "instructions_per_metadata=2", "max_iterations=4",
                                                             "judging.scheme=pairwise-1-10", "judging.check.enabled=false"])  # judging: tests/judging


def test_kept_records_carry_full_provenance(config):
    strong = ScriptedLM(strong_script(), model="fake/strong")
    out = CodecLM(config, {"strong": strong, "target": target_lm()})(seeds=SEEDS)
    assert len(out.records) == 4 and out.dropped == []
    record = next(r for r in out.records if r.metadata.use_case == "code generation")  # items finish in any order
    assert record.id.startswith("m") and "-i" in record.id and record.response == STRONG_ANSWER and record.response_source == "strong"
    assert record.response_model == "fake/strong" and record.models == {"strong": "fake/strong", "target": "fake/target", "judge": "fake/strong"}
    assert record.metadata.use_case == "code generation" and record.metadata_origin == f"encoded:{seed_id(SEEDS[0])}"
    assert record.iteration == 1 and record.actions == []
    assert "rubrics" not in strong.steps()  # every instruction was hard enough: no Self-Rubrics call is paid
    assert record.judge.gap == 5.0 and record.judge.orders_agree and len(record.judge.orders) == 2
    assert {o.order for o in record.judge.orders} == {"strong_first", "target_first"}
    assert set(record.templates) == {"encode", "decode", "rubrics", "improve", "respond", "judge"}
    assert record.target_response == "target answer"


def test_too_easy_loops_back_through_self_rubrics(config):
    strong = ScriptedLM(strong_script(harder_wins), model="fake/strong")
    out = CodecLM(config, {"strong": strong, "target": target_lm()})(seeds=SEEDS)
    assert len(out.records) == 4
    for record in out.records:
        assert record.iteration == 2 and len(record.actions) == 1
        assert "[harder: " + record.actions[0] + "]" in record.instruction
        assert [a.gap for a in record.history] == [0.0, 7.0]
    assert strong.steps().count("rubrics") == 2  # once per metadata, not per instruction


def test_actions_are_drawn_without_replacement_then_dropped_at_cap(config):
    never = lambda m: {"score_1": 6, "score_2": 6, "explanation": "tie"}  # noqa: E731
    strong = ScriptedLM(strong_script(never), model="fake/strong")
    out = CodecLM(config, {"strong": strong, "target": target_lm()})(seeds=SEEDS)
    assert out.records == [] and len(out.dropped) == 4
    for dropped in out.dropped:
        assert dropped.kind == "filtered" and dropped.iteration == 4 and "after 4 iterations" in dropped.reason
        actions = [a.action for a in dropped.history[1:]]
        assert len(set(actions)) == 3  # three distinct actions over iterations 2..4


def test_target_much_better_keeps_target_answer(config):
    reverse = lambda m: {"score_1": 1 if field_value(m, "answer_1") == STRONG_ANSWER else 9,  # noqa: E731
                         "score_2": 9 if field_value(m, "answer_1") == STRONG_ANSWER else 1, "explanation": "x"}
    out = CodecLM(config, {"strong": ScriptedLM(strong_script(reverse)), "target": target_lm()})(seeds=SEEDS)
    assert {r.response_source for r in out.records} == {"target"}
    assert all(r.response == "target answer" and r.gap == -8.0 for r in out.records)


def test_unparseable_score_is_reasked_not_misread(config):
    """'Assistant 1: 8/10' must never become scores; the step asks again."""
    answers = iter(["[[ ## score_1 ## ]]\nAssistant 1: 8/10\n\n[[ ## score_2 ## ]]\n7/10\n\n[[ ## explanation ## ]]\nx\n\n[[ ## completed ## ]]"])

    def judge(messages):
        return next(answers, None) or default_judge(messages)

    strong = ScriptedLM(strong_script(judge))
    out = CodecLM(config, {"strong": strong, "target": target_lm()})(seeds=SEEDS[:1])
    assert all(r.gap == 5.0 for r in out.records)
    assert strong.steps().count("judge") > 2 * len(out.records)  # the garbled verdict was asked again


def test_item_that_never_parses_fails_alone(config):
    def respond_garbage_for_one(step, messages):
        if step == "respond" and "number 1" in field_value(messages, "instruction"):
            return {"response": "   "}  # an empty answer never validates
        return strong_script()(step, messages)

    out = CodecLM(config, {"strong": ScriptedLM(respond_garbage_for_one), "target": target_lm()})(seeds=SEEDS)
    failed = [d for d in out.dropped if d.kind == "failed"]
    assert len(out.records) == 2 and len(failed) == 2
    assert all(d.stage == "respond" and "no valid answer after 3 attempts" in d.reason for d in failed)
    assert all(d.instruction and d.metadata and d.metadata.use_case for d in failed)  # provenance kept


def test_template_edit_reaches_the_request(config, root, tmp_path):
    prompts = tmp_path / "prompts"
    shutil.copytree(root / "prompts", prompts)
    (prompts / "respond.jinja").write_text("Answer like a pirate, {{ num_skills }} times.")
    edited = config.model_copy(update={"prompts": str(prompts)})
    target = target_lm()
    CodecLM(edited, {"strong": ScriptedLM(strong_script()), "target": target})(seeds=SEEDS[:1])
    system = target.calls[0][1][0]["content"]
    assert "Answer like a pirate, 3 times." in system


def test_every_step_is_a_named_predictor_and_saves(config, tmp_path):
    program = CodecLM(config, {"strong": ScriptedLM(strong_script()), "target": target_lm()})
    names = [name for name, _ in program.named_predictors()]
    assert names == [
        "encode.predict", "decode.predict", "rubrics.predict", "improve.predict",
        "contrastive_filter.respond_strong.predict", "contrastive_filter.respond_target.predict",
        "contrastive_filter.judge.predict",
    ]
    program.encode.predict.signature = program.encode.predict.signature.with_instructions("TUNED encode text")
    path = tmp_path / "tuned.json"
    program.save(str(path))
    saved = json.loads(path.read_text())
    assert "lm" not in json.dumps(saved["encode.predict"]).replace('"lm": null', "")  # models are not part of a program
    fresh = CodecLM(config, {"strong": (strong := ScriptedLM(strong_script())), "target": target_lm()})
    fresh.load(str(path))
    fresh(seeds=SEEDS[:1])
    assert "TUNED encode text" in strong.calls[0][1][0]["content"]


def test_run_writes_files_and_resumes_without_duplicates(config, tmp_path):
    out = tmp_path / "data.jsonl"
    strong = ScriptedLM(strong_script(harder_wins))
    summary = run(config, output=str(out), lms={"strong": strong, "target": target_lm()})
    lines = out.read_text().splitlines()
    assert summary["kept"] == len(lines) == 4 and summary["iterations"] == {2: 4}
    manifest = json.loads(out.with_name("data.manifest.json").read_text())
    assert manifest["kept"] == 4 and manifest["templates"]["judge"]
    # Lose the last record, as if killed before writing it: a rerun completes exactly that one.
    out.write_text("\n".join(lines[:3]) + "\n")
    strong2 = ScriptedLM(strong_script(harder_wins))
    run(config, output=str(out), lms={"strong": strong2, "target": target_lm()})
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(json.loads(line)["id"] for line in lines) and len(ids) == 4
    assert strong2.steps().count("improve") == 1  # only the missing item went through the filter loop
    assert not dropped_path(out).exists() or dropped_path(out).read_text() == ""


def test_yaml_round_trip_of_shipped_program(root):
    data = yaml.safe_load((root / "programs" / "codeclm.yaml").read_text())
    assert data["models"]["strong"] == {"local": "qwen2.5-coder-1.5b-instruct"}


def test_rerun_retries_failed_items_but_not_filtered_ones(tmp_path):
    """The latest line of an id is its state: failed items are retried, filtered and kept ones are done."""
    from codeclm.output.sink import OutputState

    out = tmp_path / "data.jsonl"
    dropped_path(out).write_text(
        '{"id":"a","stage":"respond","kind":"failed","reason":"respond: HTTP 500","program":"p"}\n'
        '{"id":"b","stage":"filter","kind":"filtered","reason":"|gap| <= theta","instruction":"say \\"kind\\":\\"failed\\"","program":"p"}\n'
        '{"id":"c","stage":"filter","kind":"filtered","reason":"too easy","program":"p"}\n'
        '{"id":"c","stage":"respond","kind":"failed","reason":"HTTP 500 on a later try","program":"p"}\n')
    state = OutputState(out)
    assert state.done_ids == {"b"} and {d.id: d.kind for d in state.dropped.values()} == {"a": "failed", "b": "filtered", "c": "failed"}


def test_a_reply_that_fails_validation_is_not_cached(root, tmp_path):
    """An answer a step rejects is asked again now and never replayed from the cache by a rerun."""
    from stub_server import StubServer

    from codeclm.models.config import ModelSpec
    from codeclm.engine import Engine, UsageLedger
    from codeclm.engine.cache import CallCache
    from codeclm.models.roles import make_lm, resolve_endpoint
    from codeclm.steps.decode import Decode
    from codeclm.prompting.templates import PromptLibrary
    from contextlib import ExitStack

    replies = iter(['[[ ## new_instructions ## ]]\n["Sure! Here is one."]\n\n[[ ## completed ## ]]',
                    '[[ ## new_instructions ## ]]\n["Plan a picnic for ten people in the rain."]\n\n[[ ## completed ## ]]'])
    cache = CallCache(tmp_path / "calls.sqlite")
    with StubServer(responder=lambda body: next(replies)) as stub:
        spec = ModelSpec(model="m", api_base=stub.url)
        lm = make_lm("strong", spec, resolve_endpoint("strong", spec, ExitStack(), "p.yaml"), Engine(cache=cache, ledger=UsageLedger()))
        prompt = PromptLibrary(root / "prompts", {"num_instructions": 1}).render("decode")
        assert Decode(prompt, lm, num_instructions=1)(metadata=Metadata(use_case="events", skills=["planning"]), key="m1") == [
            "Plan a picnic for ten people in the rain."]
    assert len(cache) == 1  # the rejected "Sure! ..." reply was never stored


def test_each_iteration_keeps_its_rubric_and_a_dropped_item_its_origin(config):
    """What the viewer shows of an item's story: the rubric behind each action, where a dropped item's metadata came from."""
    rubric_of = {"add a constraint": "many constraints", "require reasoning steps": "deep reasoning", "ask for rare facts": "rare facts"}
    out = CodecLM(config, {"strong": ScriptedLM(strong_script(harder_wins)), "target": target_lm()})(seeds=SEEDS)
    for record in out.records:
        assert [a.rubric for a in record.history] == [None, rubric_of[record.actions[0]]]
    never = lambda m: {"score_1": 6, "score_2": 6, "explanation": "tie"}  # noqa: E731
    out = CodecLM(config, {"strong": ScriptedLM(strong_script(never)), "target": target_lm()})(seeds=SEEDS)
    origins = {f"encoded:{seed_id(s)}" for s in SEEDS}
    assert out.dropped and all(d.metadata_origin in origins for d in out.dropped)
    assert all(a.rubric == rubric_of[a.action] for d in out.dropped for a in d.history[1:])


def test_an_improved_instruction_dropped_by_its_guard_keeps_the_attempt_that_made_it(config):
    """An instruction Improve turned into one that asks for material it does not give is dropped by the guard at
    iteration 2; the dropped item's history ends with that attempt: its instruction, action and rubric, and the
    guard's reason as its decision (nothing dropped without the step that led to it)."""
    base = strong_script(harder_wins)

    def script(step, messages):
        if step == "improve":
            return {"improved_instruction": "Summarize the following paragraph in one sentence."}  # the paragraph never comes
        return base(step, messages)

    out = CodecLM(config, {"strong": ScriptedLM(script), "target": target_lm()})(seeds=SEEDS)
    assert out.records == [] and len(out.dropped) == 4
    for dropped in out.dropped:
        assert dropped.stage == "guard" and dropped.iteration == 2 and "not answered" in dropped.reason
        assert [a.iteration for a in dropped.history] == [1, 2]
        first, second = dropped.history
        assert first.gap == 0.0 and "too easy" in first.decision
        assert second.instruction == dropped.instruction == "Summarize the following paragraph in one sentence."
        assert second.action and second.rubric and second.gap is None and second.decision == dropped.reason
