"""Seeds and evaluation split: the shipped program seeds with self_instruct's seed split and is scored on its
test split; seeds that hold evaluated items are refused in one line naming the fix.
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server; the bundled benchmark files.
"""

import json

import pytest
from eval_helpers import fakes
from fakes import ScriptedLM

from codeclm.cli import main
from codeclm.evaluation import SeedLeakError, evaluate, load_benchmark


def echo_judge():
    return ScriptedLM(lambda step, messages: {"score_1": 5, "score_2": 5, "explanation": "same"}, "fake/judge")


def run(root, tmp_path, benchmark, *overrides):
    lms = {**fakes(), "judge": echo_judge()}
    return evaluate(benchmark, "target", "strong", program=root / "programs" / "codeclm.yaml", limit=3,
                    overrides=["judging.scheme=pairwise-1-10", *overrides], out=tmp_path / "e.jsonl", lms=lms, bootstrap=50)


def test_the_shipped_program_is_scored_on_the_test_split_and_the_summary_says_so(root, tmp_path):
    report = run(root, tmp_path, "self_instruct")
    seed_ids = {i.id for i in load_benchmark("self_instruct:seed")[1]}
    assert report.split == "test" and not {i.id for i in report.items} & seed_ids
    assert report.seeds == {"path": "benchmark:self_instruct", "split": "self_instruct:seed"}
    summary = json.loads((tmp_path / "e.summary.json").read_text())
    assert summary["split"] == "test" and summary["seeds"]["split"] == "self_instruct:seed"


@pytest.mark.parametrize("benchmark, seeds", [
    ("self_instruct", "benchmark:self_instruct:all"),       # whole benchmark as seeds, scored on its test split
    ("self_instruct:all", "benchmark:self_instruct"),       # seed split, scored on every row
    ("self_instruct:seed", "benchmark:self_instruct:seed"),  # scored on the seeds themselves
    ("vicuna", "benchmark:vicuna:test"),
])

def test_seeds_that_hold_evaluated_items_are_refused(root, tmp_path, benchmark, seeds):
    with pytest.raises(SeedLeakError, match=r"shares instructions with the evaluated .* seed with benchmark:\w+ \(its seed split\) "
                                             r"and evaluate on --benchmark \w+ \(its test split\)"):
        run(root, tmp_path, benchmark, f"seeds.path={seeds}")
    assert not (tmp_path / "e.jsonl").exists()


def test_the_bundled_file_itself_as_seeds_is_the_whole_benchmark(root, tmp_path):
    from codeclm.seeds.readers import bundled_path

    with pytest.raises(SeedLeakError, match=r"\(vicuna:all split\)"):
        run(root, tmp_path, "vicuna", f"seeds.path={bundled_path('vicuna')}", "seeds.field=text")


def test_a_benchmark_file_that_is_the_seeds_file_is_refused(root, tmp_path):
    bench = tmp_path / "mine.jsonl"
    bench.write_text(json.dumps({"instruction": "Plan a trip.", "category": "travel"}) + "\n")
    with pytest.raises(SeedLeakError, match="is the benchmark file this eval scores; split it"):
        run(root, tmp_path, str(bench), f"seeds.path={bench}")


def test_splits_that_share_nothing_are_allowed(root, tmp_path):
    assert run(root, tmp_path, "self_instruct", "seeds.path=benchmark:self_instruct:seed").split == "test"
    assert run(root, tmp_path, "self_instruct:seed", "seeds.path=benchmark:self_instruct:test").split == "seed"
    assert run(root, tmp_path, "vicuna:all").split == "all"  # seeded from self_instruct: nothing shared


def test_cli_refusal_is_one_line_exit_2(root, tmp_path, capsys):
    code = main(["eval", "--benchmark", "self_instruct", "--candidate", "target", "--out", str(tmp_path / "e.jsonl"),
                 "--program", str(root / "programs" / "codeclm.yaml"), "--set", "seeds.path=benchmark:self_instruct:all"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "Traceback" not in err and "seeds.path benchmark:self_instruct:all (self_instruct:all split)" in err
    assert not (tmp_path / "e.jsonl").exists()
