"""Seeds: every supported format, and one-line errors naming the file, line or field."""

import json

import pytest

from codeclm.errors import SeedsError
from codeclm.io import JsonlSink, existing_ids, read_seeds
from codeclm.records import Seed


def test_formats(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n\n{"text": "two"}\n')
    (tmp_path / "a.json").write_text(json.dumps([{"instruction": "one"}, {"instruction": "two"}]))
    (tmp_path / "a.csv").write_text("instruction,other\none,x\ntwo,y\n")
    (tmp_path / "a.txt").write_text("one\n\ntwo\n")
    assert [s.text for s in read_seeds(tmp_path / "a.jsonl", field="text")] == ["one", "two"]
    for name in ("a.json", "a.csv", "a.txt"):
        assert [s.text for s in read_seeds(tmp_path / name)] == ["one", "two"]


def test_bundled_benchmarks_and_limit():
    vicuna = read_seeds("benchmark:vicuna", field="text")
    assert len(vicuna) == 80 and vicuna[0].id == "s0"
    assert len(read_seeds("benchmark:self_instruct", limit=5)) == 5


def test_input_field_is_appended(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"instruction": "Summarize", "input": "A long text"}\n')
    assert read_seeds(tmp_path / "s.jsonl", input_field="input")[0].text == "Summarize\n\nA long text"


@pytest.mark.parametrize(
    "name, content, kwargs, message",
    [
        ("s.jsonl", '{"text": "ok"}\n{broken\n', {"field": "text"}, r"s\.jsonl:2: invalid JSON line"),
        ("s.jsonl", '{"text": "ok"}\n', {}, r"s\.jsonl: row 1 has no field 'instruction' \(fields: text\); set seeds\.field"),
        ("s.jsonl", "", {}, r"s\.jsonl: no seeds in file"),
        ("s.json", '{"a": 1}', {}, r"s\.json: expected a JSON list"),
        ("s.jsonl", '{"instruction": ""}\n', {}, r"every seed in field 'instruction' is empty"),
    ],
)
def test_bad_seeds(tmp_path, name, content, kwargs, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(SeedsError, match=message):
        read_seeds(tmp_path / name, **kwargs)


def test_missing_file_and_unknown_benchmark(tmp_path):
    with pytest.raises(SeedsError, match="seeds file not found"):
        read_seeds(tmp_path / "nope.jsonl")
    with pytest.raises(SeedsError, match="unknown bundled set; known: self_instruct, vicuna"):
        read_seeds("benchmark:koala")


def test_sink_skips_known_ids_and_repairs_a_torn_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "s0", "text": "a"}\n{"id": "s1", "te')  # killed mid-write
    assert list(existing_ids(path)) == ["s0"]
    sink = JsonlSink(path)
    assert sink.write(Seed(id="s0", text="again")) is False
    assert sink.write(Seed(id="s1", text="b")) is True
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["s0", "s1"]
