"""`codeclm report` numbers on a small fixture, and the PNG.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import json

import pytest

from codeclm.cli import main
from codeclm.publish.report import ReportError, dataset_stats, distinct_n, mean_pairwise_rouge_l, report

ROWS = [
    {"id": "a", "instruction": "write a poem about the sea", "response": "waves roll in", "response_source": "strong",
     "iteration": 1, "metadata": {"use_case": "Poetry", "skills": ["rhyme", "imagery"]}, "program": "codeclm"},
    {"id": "b", "instruction": "write a poem about the sky", "response": "blue and wide above us", "response_source": "target",
     "iteration": 2, "metadata": {"use_case": "poetry", "skills": ["imagery"]}, "program": "codeclm"},
    {"id": "c", "instruction": "explain gravity", "response": "mass attracts mass", "response_source": "strong",
     "iteration": 1, "metadata": None, "program": "codeclm"},
]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "data.dropped.jsonl").write_text(json.dumps({"id": "d"}) + "\n")
    return path


def test_numbers(data):
    s = dataset_stats(data)
    assert (s["records"], s["dropped"], s["with_metadata"], s["use_cases"], s["skills"]) == (3, 1, 2, 1, 2)
    assert s["iterations"] == {1: 2, 2: 1} and s["kept_by_source"] == {"strong": 2, "target": 1}
    assert s["instruction_words"] == {"mean": 4.7, "median": 6, "p90": 6, "max": 6}
    # 14 unigrams, 9 distinct (write a poem about the x2 + sea, sky, explain, gravity)
    assert s["distinct_1"] == round(9 / 14, 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)


def test_rouge_diversity():
    assert mean_pairwise_rouge_l(["same text here", "same text here"]) == pytest.approx(1.0)
    assert mean_pairwise_rouge_l(["alpha beta", "gamma delta"]) == 0.0
    texts = [f"task number {i} about topic {i * 7}" for i in range(50)]
    assert mean_pairwise_rouge_l(texts, sample=10, seed=1) == mean_pairwise_rouge_l(texts, sample=10, seed=1)
    assert mean_pairwise_rouge_l(["one"]) is None


def test_report_side_by_side_with_plot(data, tmp_path):
    pytest.importorskip("matplotlib")
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(ROWS[2]) + "\n")
    result = report([data, other], tmp_path / "rep")
    text = (tmp_path / "rep" / "report.txt").read_text()
    assert "data" in text and "other" in text and "distinct use cases" in text
    assert (tmp_path / "rep" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [d["records"] for d in result["datasets"]] == [3, 1]


def test_cli_and_errors(data, tmp_path, capsys):
    assert main(["report", str(data), "--out", str(tmp_path / "r2"), "--no-plots", "--sample", "2", "--seed", "3"]) == 0
    (written,) = json.loads((tmp_path / "r2" / "report.json").read_text())
    assert written == json.loads(json.dumps(dataset_stats(data, sample=2, seed=3)))  # the options reach the numbers
    assert written["records"] == 3 and written["rouge_sample"] == 2 and not (tmp_path / "r2" / "report.png").exists()
    printed = capsys.readouterr().err
    assert "records: 3" in printed and f"report: {tmp_path / 'r2' / 'report.txt'}" in " ".join(printed.split())
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ReportError, match="no records"):
        dataset_stats(empty)
    assert main(["report", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


def test_length_percentile_is_nearest_rank():
    from codeclm.publish.report import _lengths

    assert _lengths(["a b", "a b c d e"]) == {"mean": 3.5, "median": 3.5, "p90": 5, "max": 5}
    assert _lengths([" ".join("w" * n) for n in range(1, 11)])["p90"] == 9


def test_instructions_that_overlap_a_benchmark_item_are_counted_with_examples(tmp_path):
    from codeclm.evaluation import load_benchmark

    leaked = load_benchmark("self_instruct:all")[1][7].instruction
    path = tmp_path / "leaky.jsonl"
    rows = ROWS + [{"id": "e", "instruction": leaked, "response": "done", "program": "codeclm"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    overlap = dataset_stats(path)["benchmark_overlap"]
    assert (overlap["checked"], overlap["overlapping"]) == (4, 1)
    assert overlap["by_split"] == {"self_instruct:test": 1} and overlap["examples"][0]["id"] == "e"
    report([path], tmp_path / "rep", plots=False)
    text = " ".join((tmp_path / "rep" / "report.txt").read_text().split())
    assert "overlap a benchmark item" in text and "1 (25%)" in text
    assert "a shared run of 8 words, or ROUGE-L F1 > 0.7" in text
    assert "leaky: 1 of 4 instructions (self_instruct:test 1)" in text and "e: " in text and "self_instruct:test:user_oriented_task_7" in text
    assert json.loads((tmp_path / "rep" / "report.json").read_text())[0]["benchmark_overlap"]["overlapping"] == 1
