"""Sinks: items reach the output files as they finish; an output's state is its kept records plus the
latest line of each dropped id.
Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import pytest

from codeclm.output.jsonl import JsonlError
from codeclm.output.records import Dropped, Record
from codeclm.output.sink import FileSink, OutputState, dropped_path


def record(id_):
    return Record(id=id_, instruction="i", response="r", response_source="strong", response_model="m", metadata=None,
                  metadata_origin=None, iteration=1, actions=[], strong_response="r", target_response=None, judge=None,
                  gap=None, theta=None, decision="kept", history=[], models={}, templates={}, program="p")


def dropped(id_, kind="failed"):
    return Dropped(id=id_, stage="respond", kind=kind, reason="HTTP 500", program="p")


def test_a_failed_item_kept_later_is_kept_and_compaction_keeps_the_latest(tmp_path):
    out = tmp_path / "data.jsonl"
    sink = FileSink(out, OutputState(out))
    sink.drop(dropped("a"))
    sink.drop(dropped("b"))
    sink.keep(record("a"))  # retried and kept
    sink.drop(dropped("b", kind="filtered"))
    assert len(dropped_path(out).read_text().splitlines()) == 3  # appended as they happened
    state = OutputState(out)
    assert set(state.kept) == {"a"} and {i: d.kind for i, d in state.dropped.items()} == {"b": "filtered"}
    sink.compact()
    assert len(dropped_path(out).read_text().splitlines()) == 1


def test_a_line_that_is_not_a_record_is_one_clear_error(tmp_path):
    out = tmp_path / "data.jsonl"
    out.write_text(record("a").model_dump_json() + "\n" + '{"id": "x"}\n')
    with pytest.raises(JsonlError, match=r"data\.jsonl:2: not a codeclm record .*write to a new output \(--out\)"):
        OutputState(out)
