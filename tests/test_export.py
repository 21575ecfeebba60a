"""Each export format, loaded back the way its consumers read it.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import json

import pytest

from codeclm.cli import main
from codeclm.export import convert, export, to_hf_dataset

ROWS = [
    {"id": "a", "instruction": "Say hi.", "response": "Hi!", "response_source": "strong", "iteration": 1,
     "metadata": {"use_case": "greeting", "skills": ["politeness"]}, "program": "codeclm"},
    {"id": "b", "instruction": "Add 2 and 3.", "response": "5", "response_source": "target", "iteration": 2,
     "metadata": None, "program": "self_instruct"},
]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_alpaca(data):
    rows = json.loads(export(data, "alpaca").read_text())
    assert rows == [{"instruction": "Say hi.", "input": "", "output": "Hi!"}, {"instruction": "Add 2 and 3.", "input": "", "output": "5"}]


def test_sharegpt(data, tmp_path):
    rows = json.loads(export(data, "sharegpt", tmp_path / "x.json").read_text())
    assert [[t["from"] for t in r["conversations"]] for r in rows] == [["human", "gpt"]] * 2
    assert rows[1]["conversations"][1]["value"] == "5" and rows[0]["id"] == "a"


def test_openai_chat(data):
    path = export(data, "openai-chat")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert path.name == "data.openai.jsonl" and len(rows) == 2
    assert rows[0]["messages"] == [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}]


def test_cli_and_unknown_format(data, tmp_path):
    assert main(["export", str(data), "--format", "alpaca", "--out", str(tmp_path / "a.json")]) == 0
    assert len(json.loads((tmp_path / "a.json").read_text())) == 2
    with pytest.raises(ValueError, match="unknown format"):
        convert(ROWS, "csv")


def test_hf_dataset(data):
    datasets = pytest.importorskip("datasets")
    ds = to_hf_dataset(data)
    assert isinstance(ds, datasets.Dataset) and len(ds) == 2
    assert ds[0]["instruction"] == "Say hi." and ds[0]["use_case"] == "greeting" and ds[1]["use_case"] is None
    assert ds[0]["skills"] == ["politeness"] and ds[1]["skills"] == []
