"""records: N on fake LMs: an exact count, resume and extension, quotas per use case, yield-driven choices, the gate.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json
import threading

import pytest
from fakes import ScriptedLM
from pipeline_scripts import harder_wins, strong_script

from codeclm import Metadata, load_config
from codeclm.programs.quota import Cell, Quotas, cells_of
from codeclm.run import run

SEEDS = ["Write a Python function that checks for palindromes.", "Plan a weekend in Rome on a budget."]


def target_lm():
    return ScriptedLM(lambda step, m: {"response": "target answer"}, model="fake/target")


def config_for(root, tmp_path, *extra):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(SEEDS))
    return load_config(root / "programs" / "codeclm.yaml", [
        "num_metadata=2", "instructions_per_metadata=2", "max_iterations=3", "judging.scheme=pairwise-1-10",
        "judging.check.enabled=false", "cache.enabled=false", "concurrency=4", f"seeds.path={seeds}", "seeds.limit=null", *extra])


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_records_n_stops_at_exactly_n_with_items_in_flight(root, tmp_path):
    out = tmp_path / "data.jsonl"
    strong = ScriptedLM(strong_script(harder_wins))
    summary = run(config_for(root, tmp_path, "records=5"), output=str(out), lms={"strong": strong, "target": target_lm()})
    assert summary["kept"] == len(rows(out)) == 5
    quota = summary["quota"]
    assert quota["kept"] == 5 and quota["asked"] == 5 and quota["short_by"] == 0
    assert sum(c["kept"] for name, c in quota["cells"].items() if name.startswith("use case:")) == 5
    # every instruction is too easy at iteration 1 and kept once harder: exactly N harder versions were made (the
    # gate let no sixth one start once five were kept or in flight)
    assert strong.steps().count("improve") == 5


def test_a_larger_n_resumes_the_same_output(root, tmp_path):
    out = tmp_path / "data.jsonl"
    run(config_for(root, tmp_path, "records=3"), output=str(out), lms={"strong": ScriptedLM(strong_script(harder_wins)), "target": target_lm()})
    first = {r["id"] for r in rows(out)}
    strong = ScriptedLM(strong_script(harder_wins))
    summary = run(config_for(root, tmp_path, "records=6"), output=str(out), lms={"strong": strong, "target": target_lm()})
    ids = [r["id"] for r in rows(out)]
    assert len(ids) == len(set(ids)) == 6 and first <= set(ids) and summary["quota"]["kept"] == 6
    assert strong.steps().count("improve") == 3  # only the three new records went through the loop


def test_per_use_case_quota_fills_each_use_case(root, tmp_path):
    out = tmp_path / "data.jsonl"
    summary = run(config_for(root, tmp_path, "records=4", "per_use_case=2"), output=str(out),
                  lms={"strong": ScriptedLM(strong_script(harder_wins)), "target": target_lm()})
    cases = [r["metadata"]["use_case"] for r in rows(out)]
    assert sorted(cases) == ["code generation", "code generation", "travel planning", "travel planning"]
    assert summary["quota"]["cells"]["use case: travel planning"] == {"kept": 2, "asked": 2, "yield": 1.0}


def test_a_cell_that_keeps_coming_back_too_easy_gets_fewer_new_instructions():
    quotas = Quotas(records=10)
    easy, fresh, good = (Metadata(use_case=u, skills=["x"]) for u in ("easy", "fresh", "good"))
    for _ in range(8):
        quotas.count(easy, kept=False)
    for kept in (True, True, False, True):
        quotas.count(good, kept=kept)
    assert quotas.score(good) > quotas.score(fresh) > quotas.score(easy)

    class Item:
        def __init__(self, metadata, n):
            self.metadata, self.id = metadata, f"{metadata.use_case}{n}"

    pool = [Item(m, n) for n in range(6) for m in (easy, fresh, good)]
    chosen = quotas.choose(pool, per_metadata=2)
    count = {u: sum(i.metadata.use_case == u for i in chosen) for u in ("easy", "fresh", "good")}
    assert count["easy"] < count["fresh"] <= count["good"] and count["fresh"] > 0


def test_quota_full_cell_gets_nothing_and_empty_cell_is_wanted_most():
    quotas = Quotas(records=10, per_use_case=2)
    full, half, empty = (Metadata(use_case=u, skills=["x"]) for u in ("full", "half", "empty"))
    quotas.count(full, True), quotas.count(full, True), quotas.count(half, True)
    assert not quotas.has_room(full) and quotas.has_room(half)
    # `half` yields well (1 of 1) but misses one record; `empty` misses both: the empty cell is wanted more
    assert quotas.expected_yield(half) > quotas.expected_yield(empty)
    assert quotas.score(empty) > quotas.score(half) and quotas.score(full) == 0


def test_the_gate_never_lets_more_than_n_be_kept_or_in_flight():
    quotas = Quotas(records=2)
    m = Metadata(use_case="u", skills=["x"])
    assert quotas.admit(m) and quotas.admit(m)
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(quotas.admit(m)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # two in flight could still make N: a third waits
    quotas.finish(m, None)  # one failed: the waiting one may start
    waiter.join(2)
    assert answers == [True] and quotas.in_flight == 2
    from codeclm.output.records import Record

    record = Record.model_construct(id="r")
    quotas.finish(m, record), quotas.finish(m, record)
    assert quotas.kept == 2 and not quotas.admit(m)  # N kept: nothing else starts


def test_cells_are_the_use_case_and_each_skill():
    assert cells_of(Metadata(use_case="Trip Planning", skills=["budgeting", "maps"])) == [
        "use case: trip planning", "skill: budgeting", "skill: maps"]
    assert Cell(asked=0, kept=0).yield_estimate(0.3) == pytest.approx(0.3)
