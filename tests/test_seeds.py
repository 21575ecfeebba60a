"""Seeds: every supported format, and one-line errors naming the file, line or field.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import json

import pytest

from codeclm.errors import SeedsError
from codeclm.output.records import seed_id
from codeclm.seeds.readers import read_seeds


def test_formats(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n\n{"text": "two"}\n')
    (tmp_path / "a.json").write_text(json.dumps([{"instruction": "one"}, {"instruction": "two"}]))
    (tmp_path / "a.csv").write_text("instruction,other\none,x\ntwo,y\n")
    (tmp_path / "a.txt").write_text("one\n\ntwo\n")
    (tmp_path / "strings.jsonl").write_text('"one"\n"two"\n')  # a JSONL line may be the text itself
    assert [s.text for s in read_seeds(tmp_path / "a.jsonl", field="text")] == ["one", "two"]
    for name in ("a.json", "a.csv", "a.txt", "strings.jsonl"):
        assert [s.text for s in read_seeds(tmp_path / name)] == ["one", "two"]


def test_bundled_benchmarks_and_limit():
    vicuna = read_seeds("benchmark:vicuna:all", field="text")
    assert len(vicuna) == 80 and vicuna[0].id == seed_id(vicuna[0].text)
    assert len(read_seeds("benchmark:self_instruct", limit=5)) == 5


def test_a_bundled_benchmark_seeds_with_its_seed_split_every_fifth_row():
    every = read_seeds("benchmark:self_instruct:all")
    seeds = read_seeds("benchmark:self_instruct")
    assert [s.text for s in seeds] == [s.text for s in every[::5]] and len(seeds) == 51
    assert read_seeds("benchmark:self_instruct:seed") == seeds
    test = read_seeds("benchmark:vicuna:test", field="text")
    assert len(test) == 64 and {s.id for s in test}.isdisjoint(s.id for s in read_seeds("benchmark:vicuna", field="text"))


def test_where_seeds_come_from():
    from codeclm.seeds.readers import bundled_path, bundled_split

    assert str(bundled_split("benchmark:self_instruct")) == "self_instruct:seed"
    assert str(bundled_split("benchmark:vicuna:test")) == "vicuna:test"
    assert str(bundled_split(bundled_path("vicuna"))) == "vicuna:all"  # the file itself: every row
    assert bundled_split("my_seeds.jsonl") is None
    with pytest.raises(SeedsError, match=r"seeds.path benchmark:vicuna:train: unknown split 'train'; use benchmark:vicuna "
                                         r"\(its seed split\), benchmark:vicuna:seed, :test or :all"):
        read_seeds("benchmark:vicuna:train")


def test_input_field_is_appended(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"instruction": "Summarize", "input": "A long text"}\n')
    assert read_seeds(tmp_path / "s.jsonl", input_field="input")[0].text == "Summarize\n\nA long text"


@pytest.mark.parametrize(
    "name, content, kwargs, message",
    [
        ("s.jsonl", '{"text": "ok"}\n{broken\n', {"field": "text"}, r"s\.jsonl:2: not a JSON line \(Expecting"),
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




def test_input_field_takes_dotted_paths_and_the_bundled_self_instruct_keeps_its_input():
    seeds = read_seeds("benchmark:self_instruct", input_field="instances.0.input", limit=3)
    assert all("\n\n" in s.text for s in seeds[:1])  # the first task's input text is appended


@pytest.mark.parametrize(
    "content, kwargs, message",
    [
        ('{"instruction": "a", "input": "x"}\n', {"input_field": "inputs"}, r"no row has the input field 'inputs'"),
        ('{"instruction": 42}\n', {}, r"row 1 field 'instruction' is int, not text"),
        ('{"instruction": ["a", "b"]}\n', {}, r"row 1 field 'instruction' is list, not text"),
        ('{"instruction": "a", "input": {"k": 1}}\n', {"input_field": "input"}, r"row 1 field 'input' is dict, not text"),
    ],
)
def test_seed_values_that_are_not_text_are_refused(tmp_path, content, kwargs, message):
    (tmp_path / "s.jsonl").write_text(content)
    with pytest.raises(SeedsError, match=message):
        read_seeds(tmp_path / "s.jsonl", **kwargs)


def test_non_utf8_seeds_are_one_line(tmp_path):
    (tmp_path / "s.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(SeedsError, match=r"s\.txt: not UTF-8 text \(byte 3\); save it as UTF-8"):
        read_seeds(tmp_path / "s.txt")


def test_seed_ids_come_from_content():
    """The same seed keeps its id whatever comes before it."""
    assert seed_id("Explain TCP.") == seed_id("  Explain   TCP. ") != seed_id("Explain UDP.")


def test_where_keeps_the_rows_whose_field_holds_a_value(tmp_path):
    coding = read_seeds("benchmark:vicuna", field="text", where={"category": "coding"})
    assert [s.text[:30] for s in coding] == ["Develop a C++ program that rea", "Implement a queue data structu"]
    (tmp_path / "s.jsonl").write_text('{"instruction": "a", "meta": {"kind": "x"}}\n{"instruction": "b", "meta": {"kind": "y"}}\n'
                                      '{"instruction": "c"}\n{"instruction": "d", "meta": {"kind": "z"}}\n')
    assert [s.text for s in read_seeds(tmp_path / "s.jsonl", where={"meta.kind": ["y", "z"]})] == ["b", "d"]
    assert [s.text for s in read_seeds(tmp_path / "s.jsonl", where={"meta.kind": ["x", "z"]}, limit=1)] == ["a"]
    with pytest.raises(SeedsError, match=r"s.jsonl: no row has meta.kind = w or v \(seeds.where\); values found: x, y, z$"):
        read_seeds(tmp_path / "s.jsonl", where={"meta.kind": ["w", "v"]})
    with pytest.raises(SeedsError, match=r"s.jsonl: no row has the field 'category' named in seeds.where; fix seeds.where "
                                         r"or remove it \(--set seeds.where=null\)$"):
        read_seeds(tmp_path / "s.jsonl", where={"category": "coding"})
