"""`codeclm optimize` end to end on the scripted world: the saved program loads, changes the requests, is refused
where it does not fit; the filter check is enforced; bad input is one line.
Runs against: the scripted optimize world in process (tests/optimize/optimize_world.py WorldLM: a fake, not real models).
"""

import json

import pytest
from fakes import ScriptedLM
from optimize_world import TUNED_MARK, WORSE_MARK, world_lms

import codeclm.check.program
from codeclm import CodecLM
from codeclm.cli import main
from codeclm.errors import JudgeCalibrationError
from codeclm.check.grading import report
from codeclm.optimize import optimize
from codeclm.run import run
from codeclm.programs.tuned import load_tuned


def test_bootstrap_tunes_decode_and_the_saved_program_changes_the_run(world_config, benchmark_file, tmp_path):
    config, out = world_config(), tmp_path / "world.tuned.json"
    result = optimize(config, benchmark=str(benchmark_file), steps="decode", optimizer="bootstrap", out=out, lms=world_lms())
    demos = json.loads(out.read_text())["decode.predict"]["demos"]
    bootstrapped = [d for d in demos if d.get("augmented")]
    assert bootstrapped and all(d["use_case"] == "python programming" for d in bootstrapped)  # only runs that pass
    assert demos[-1]["use_case"] == "travel planning"  # the template's demo is kept after them
    assert result.comparison.after > result.comparison.before and result.comparison.examples == 4
    header = json.loads(out.read_text())["codeclm"]["optimize"]
    assert header["comparison"]["verdict"] == result.comparison.verdict and header["steps"] == ["decode"]
    assert header["filter_check"].startswith("not run (judging.check.enabled: false)")
    detail = json.loads(result.report.read_text())
    assert detail["tuned_sha256"] and len(detail["before"]) == len(detail["after"]) == 4
    assert {"filter check", "encode benchmark", "held-out before", "optimize", "held-out after"} == set(detail["phases"])
    runs = detail["optimize_runs"]  # why each training run did or did not become a demo
    assert runs and {r["passed"] for r in runs} == {True, False}
    assert all(r["instructions"][0]["kept_by_filter"] for r in runs if r["passed"])

    # The file loads into a fresh program and its demos reach the strong model in a run; records carry its hash.
    strong = world_lms()["strong"]
    records = tmp_path / "data.jsonl"
    run(config, output=str(records), lms={"strong": strong, "target": world_lms()["target"]}, tuned=str(out))
    decode_request = next(m for step, m, _ in strong.calls if step == "decode")
    assert any(bootstrapped[0]["new_instructions"][0] in m["content"] for m in decode_request if m["role"] == "assistant")
    digest = load_tuned(CodecLM(config, world_lms()), out)
    kept = [json.loads(line) for line in records.read_text().splitlines()]
    assert kept and all(r["tuned"] == digest for r in kept)


def test_gepa_reflects_on_the_metric_feedback_and_rewrites_the_instructions(world_config, benchmark_file, tmp_path):
    lms = world_lms()
    result = optimize(world_config(), benchmark=str(benchmark_file), optimizer="gepa", out=tmp_path / "g.json", lms=lms)
    proposer = [m for step, m, _ in lms["strong"].calls if step == "proposer"]
    assert proposer and "too easy for the target" in json.dumps(proposer[0])  # the textual feedback reached the reflection LM
    state = json.loads((tmp_path / "g.json").read_text())
    # GEPA's first proposal is worse than the template (easy instructions for every use case): it must be rejected,
    # and the better one kept.
    assert lms["strong"].proposals.sent[0].count(WORSE_MARK) and any(TUNED_MARK in p for p in lms["strong"].proposals.sent)
    chosen = state["decode.predict"]["signature"]["instructions"]
    assert TUNED_MARK in chosen and WORSE_MARK not in chosen
    assert result.changes["decode.predict"]["instructions_changed"] and result.comparison.after > result.comparison.before


def test_mipro_tunes_decode_and_improve_jointly(world_config, benchmark_file, tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    lms = world_lms()
    result = optimize(world_config(), benchmark=str(benchmark_file), optimizer="mipro", steps="decode,improve",
                      out=tmp_path / "m.json", lms=lms)
    assert set(result.changes) == {"decode.predict", "improve.predict"}
    state = json.loads((tmp_path / "m.json").read_text())
    # Among the candidates were worse ones (WORSE_MARK: easy instructions for every use case); the search must not
    # pick one, and what it picks must beat the template on the held-out part.
    assert sum(WORSE_MARK in p for p in lms["strong"].proposals.sent) >= 1
    decode = state["decode.predict"]
    assert WORSE_MARK not in decode["signature"]["instructions"]
    assert TUNED_MARK in decode["signature"]["instructions"] or any(d.get("augmented") for d in decode["demos"])
    worse = with_decode_instruction(WORSE_MARK, world_config, benchmark_file, tmp_path, monkeypatch)
    assert result.comparison.after > worse.after + 0.05  # what it picked beats the worse candidate on the held-out part
    assert all(a.instruction.endswith(").") for j in result.after for a in j.assessments)  # improved instructions are scored


def with_decode_instruction(mark, world_config, benchmark_file, tmp_path, monkeypatch):
    """The held-out comparison of the template (before) with the template's decode instructions led by `mark`
    (after): an "optimizer" that proposes exactly that."""
    import codeclm.optimize.runner as runner

    def propose(name, chain, train, metric, **kwargs):
        tuned = chain.deepcopy()
        predictor = dict(tuned.named_predictors())["decode.predict"]
        predictor.signature = predictor.signature.with_instructions(f"{mark}.\n{predictor.signature.instructions}")
        return tuned

    with monkeypatch.context() as patch:
        patch.setattr(runner, "compile_chain", propose)
        out = tmp_path / f"{mark[:8]}.json".replace(" ", "-")
        return optimize(world_config(), benchmark=str(benchmark_file), out=out, lms=world_lms()).comparison


def test_the_world_has_candidates_worse_and_better_than_the_template(world_config, benchmark_file, tmp_path, monkeypatch):
    """The scripted world ranks candidates (an optimizer must choose, not merely change): WORSE_MARK < template <
    TUNED_MARK on the held-out figure."""
    worse = with_decode_instruction(WORSE_MARK, world_config, benchmark_file, tmp_path, monkeypatch)
    better = with_decode_instruction(TUNED_MARK, world_config, benchmark_file, tmp_path, monkeypatch)
    assert worse.after < worse.before - 0.05 and better.after > better.before
    assert worse.before == better.before  # the same template, the same held-out examples


def test_the_filter_check_is_enforced_before_any_optimizer_call(world_config, benchmark_file, tmp_path, monkeypatch):
    failing = report("target-loss", "m", "t", [], 1.0, 0.75, 0.0)  # no items: inconclusive, not passed
    monkeypatch.setattr(codeclm.check.program, "check_filter", lambda session: failing)
    lms = world_lms()
    with pytest.raises(JudgeCalibrationError, match="filter check inconclusive"):
        optimize(world_config("judging.check.enabled=true"), benchmark=str(benchmark_file), out=tmp_path / "t.json", lms=lms)
    assert lms["strong"].calls == [] and not (tmp_path / "t.json").exists()

    class Passed:
        passed = True
        status = "passed"

        def line(self):
            return "50/60 right at theta 1 (83%, 95% CI 72-91%): passed"

    monkeypatch.setattr(codeclm.check.program, "check_filter", lambda session: Passed())
    result = optimize(world_config("judging.check.enabled=true"), benchmark=str(benchmark_file), out=tmp_path / "t.json",
                      lms=world_lms())
    assert result.filter_check == Passed().line()
    assert json.loads((tmp_path / "t.json").read_text())["codeclm"]["optimize"]["filter_check"] == Passed().line()


def test_a_file_tuned_for_decode_and_another_scheme_is_refused_naming_the_step(world_config, benchmark_file, tmp_path, capsys):
    out = tmp_path / "t.json"
    optimize(world_config(), benchmark=str(benchmark_file), out=out, lms=world_lms())
    other = world_config("judging.scheme=pairwise-1-10")
    from codeclm.programs.tuned import TunedProgramError

    with pytest.raises(TunedProgramError, match=r"step 'contrastive_filter\.judge\.predict' is missing"):
        load_tuned(CodecLM(other, {"strong": ScriptedLM(lambda s, m: {}), "target": ScriptedLM(lambda s, m: {})}), out)


@pytest.mark.parametrize("args, message", [
    (["--steps", "encode"], "error: cannot optimize step 'encode' (the benchmark-fit part re-encodes instructions with it: "
                            "tuning it would move the ruler); supported: decode, rubrics, improve"),
    (["--steps", "respond"], "error: cannot optimize step 'respond' (the contrast part scores its answers: tuning it against "
                             "the target's failure rewards odd answers); supported: decode, rubrics, improve"),
    (["--split", "1.5"], "error: codeclm optimize: argument --split: 1.5 is out of range; allowed: a number > 0 and < 1 "
                         "(see codeclm optimize --help)"),
    (["--set", "optimize.split=1.5"], "error: {program}: optimize.split: Input should be less than 1"),
    (["--benchmark", "nope.jsonl"], "error: unknown benchmark 'nope.jsonl': not a bundled set (vicuna, self_instruct) and no such file"),
    (["--set", "optimize.benchmark=null"],
     "error: {program}: no benchmark: pass --benchmark vicuna|self_instruct|FILE (or set optimize.benchmark in the YAML)"),
    (["--steps", "improve", "--set", "max_iterations=1"], "error: {program}: Self-Rubrics/Improve never run with "
     "ablation.self_rubrics: false or max_iterations < 2 (it is 1); set max_iterations: 2 or tune decode only"),
    (["--set", "optimize.weights={contrast: 0, fit: 0, validity: 0}"],
     "error: {program}: optimize.weights: at least one weight must be > 0, e.g. {contrast: 0.5, fit: 0.3, validity: 0.2}"),
])
def test_bad_input_is_one_line_and_exit_2(root, capsys, args, message):
    program = str(root / "programs" / "codeclm.yaml")
    if not any(a == "--benchmark" for a in args) and message.count("no benchmark") == 0:
        args = ["--benchmark", "vicuna", *args]
    assert main(["optimize", program, *args]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps at the terminal width
    assert err == message.replace("{program}", program)


def test_mipro_without_optuna_says_what_to_install(world_config, benchmark_file, tmp_path, monkeypatch):
    from codeclm.errors import OptimizeError

    monkeypatch.setitem(__import__("sys").modules, "optuna", None)
    with pytest.raises(OptimizeError, match=r"pip install 'codeclm\[optimize\]'"):
        optimize(world_config(), benchmark=str(benchmark_file), optimizer="mipro", out=tmp_path / "t.json", lms=world_lms())
