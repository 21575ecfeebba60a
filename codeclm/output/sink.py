"""Where a program's items go as they finish: kept records and dropped items (filtered or failed).

`MemorySink` collects them (a program called from Python); `FileSink` appends each one to the
output JSONL files the moment it happens, so a killed run keeps everything it finished.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from codeclm.output.jsonl import Appender, validated_rows, write_atomic
from codeclm.output.records import Dropped, Record

FIX = "fix or delete that line, or write to a new output (--out)"


class Sink(Protocol):
    def keep(self, record: Record) -> None: ...

    def drop(self, item: Dropped) -> None: ...


class MemorySink:
    """Collects kept records and dropped items in memory, in the order they finish."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.dropped: list[Dropped] = []
        self._lock = threading.Lock()

    def keep(self, record: Record) -> None:
        with self._lock:
            self.records.append(record)

    def drop(self, item: Dropped) -> None:
        with self._lock:
            self.dropped.append(item)


def dropped_path(output: Path) -> Path:
    return output.with_name(output.stem + ".dropped.jsonl")


def manifest_path(output: Path) -> Path:
    """The run's manifest beside its output: counts, models, the filter check, template hashes, versions."""
    return Path(output).with_name(Path(output).stem + ".manifest.json")


@dataclass(frozen=True)
class Kept:
    """What a summary needs of one kept record."""

    id: str
    iteration: int
    source: str
    instruction: str
    metadata: object = None  # the record's Metadata (records: N counts kept records per use case and skill)


class OutputState:
    """What an output holds: kept records, and per dropped id its latest line (a later keep wins).

    Read once when a run starts (a torn last line is repaired, any other bad line refused with
    one line naming file:line); the FileSink keeps it current as it writes.
    """

    def __init__(self, output: Path):
        output = Path(output)
        self.kept: dict[str, Kept] = {}
        self.dropped: dict[str, Dropped] = {}
        self._lock = threading.Lock()
        for record in validated_rows(output, Record, what="a codeclm record", fix=FIX) if output.exists() else []:
            self.add_kept(record)
        dropped = dropped_path(output)
        for item in validated_rows(dropped, Dropped, what="a codeclm dropped item", fix=FIX) if dropped.exists() else []:
            self.add_dropped(item)

    def add_kept(self, record: Record) -> None:
        with self._lock:
            self.kept[record.id] = Kept(record.id, record.iteration, record.response_source, record.instruction,
                                        getattr(record, "metadata", None))
            self.dropped.pop(record.id, None)

    def add_dropped(self, item: Dropped) -> None:
        with self._lock:
            if item.id not in self.kept:
                self.dropped.pop(item.id, None)  # the latest line of an id goes last
                self.dropped[item.id] = item

    @property
    def done_ids(self) -> set[str]:
        """Items a rerun skips: kept or filtered. Failed items are tried again."""
        return set(self.kept) | {i for i, d in self.dropped.items() if d.kind != "failed"}


class FileSink:
    """Appends kept records to `output` and dropped items to `<output>.dropped.jsonl`, one line each,
    the moment they finish; keeps `state` current.

    The dropped file only grows during a run: a failed item retried by a later run gets a new
    line, and the latest line of an id is its state. `compact()` rewrites it to those latest
    lines once a run has finished.
    """

    def __init__(self, output: Path, state: OutputState):
        self.output, self.dropped_output, self.state = Path(output), dropped_path(Path(output)), state
        self._kept, self._dropped = Appender(self.output), Appender(self.dropped_output)

    def keep(self, record: Record) -> None:
        self._kept.append(record.model_dump_json())
        self.state.add_kept(record)

    def drop(self, item: Dropped) -> None:
        self._dropped.append(item.model_dump_json())
        self.state.add_dropped(item)

    def compact(self) -> None:
        """Rewrite the dropped file to the latest line of each id not kept (atomic)."""
        if self.dropped_output.exists():
            write_atomic(self.dropped_output, "".join(d.model_dump_json() + "\n" for d in self.state.dropped.values()))

