"""JSONL files: a torn last line is repaired before anything reads it; any other bad line is one clear error.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import json

import pytest

from codeclm.output.jsonl import Appender, JsonlError, read_rows, repair_torn_tail, write_atomic


def test_a_torn_last_line_is_cut_before_reading(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "te')  # killed mid-write
    assert read_rows(path) == [{"id": "a"}]
    assert path.read_text() == '{"id": "a"}\n'
    Appender(path).append(json.dumps({"id": "b"}))
    assert [r["id"] for r in read_rows(path)] == ["a", "b"] and not repair_torn_tail(path)


def test_a_corrupt_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "c"}\n')
    with pytest.raises(JsonlError, match=r"out\.jsonl:2: not a JSON line .*; fix or delete that line"):
        read_rows(path)


def test_write_atomic_replaces_whole(tmp_path):
    path = tmp_path / "m.json"
    write_atomic(path, "one")
    write_atomic(path, "two")
    assert path.read_text() == "two" and list(tmp_path.iterdir()) == [path]
