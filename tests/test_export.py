"""Each export format, loaded back the way its consumers read it.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import json

import pytest

from codeclm.cli import main
from codeclm.publish.export import convert, export, to_hf_dataset

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
    assert rows == [{"id": "a", "instruction": "Say hi.", "input": "", "output": "Hi!"},
                    {"id": "b", "instruction": "Add 2 and 3.", "input": "", "output": "5"}]


def test_sharegpt(data, tmp_path):
    rows = json.loads(export(data, "sharegpt", tmp_path / "x.json").read_text())
    assert [[t["from"] for t in r["conversations"]] for r in rows] == [["human", "gpt"]] * 2
    assert rows[1]["conversations"][1]["value"] == "5" and rows[0]["id"] == "a"


def test_openai_chat(data):
    path = export(data, "openai-chat")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert path.name == "data.openai.jsonl" and len(rows) == 2
    assert rows[0] == {"messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}]}
    # The fine-tuning API checks each line's keys: the record ids go beside the file, line for line.
    assert (path.parent / "data.openai.jsonl.ids.txt").read_text().splitlines() == ["a", "b"]


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


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "openai-chat"])
def test_export_writes_the_dataset_card_beside_and_every_row_traces_to_its_record(fmt, tmp_path, capsys):
    from test_card import write_run

    data = write_run(tmp_path)
    out = tmp_path / "ft" / f"train.{fmt}"
    assert main(["export", str(data), "--format", fmt, "--out", str(out)]) == 0
    card = (tmp_path / "ft" / "codeclm.card.md").read_text()
    assert "49/60 right at theta 1" in card and "| kept | 2 |" in card and "the dataset card" in capsys.readouterr().err
    if fmt == "openai-chat":
        ids = (tmp_path / "ft" / f"train.{fmt}.ids.txt").read_text().splitlines()
        texts = [json.loads(line)["messages"][0]["content"] for line in out.read_text().splitlines()]
    else:
        rows = json.loads(out.read_text())
        ids = [r["id"] for r in rows]
        texts = [r["instruction"] if fmt == "alpaca" else r["conversations"][0]["value"] for r in rows]
    records = {r["id"]: r["instruction"] for r in map(json.loads, data.read_text().splitlines())}
    assert ids and [records[i] for i in ids] == texts


def test_export_without_a_manifest_says_there_is_no_card(data, capsys):
    assert main(["export", str(data), "--format", "alpaca"]) == 0
    assert "no dataset card:" in capsys.readouterr().err and not list(data.parent.glob("*.card.md"))
