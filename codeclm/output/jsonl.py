"""JSON Lines files: read (a torn last line is repaired first), append (flushed and fsynced), replace atomically."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator, TypeVar

from pydantic import BaseModel, ValidationError

from codeclm.errors import CodecLMError

M = TypeVar("M", bound=BaseModel)


class JsonlError(CodecLMError):
    """A JSONL file with a line that is not valid JSON (not a torn last line, which is repaired)."""


def repair_torn_tail(path: Path) -> bool:
    """Cut an incomplete last line (a process killed mid-write) so appends stay valid; True if cut."""
    if not path.exists():
        return False
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end == len(data):
        return False
    with path.open("r+b") as handle:
        handle.truncate(end)
    return True


def read_rows(path: str | Path, *, fix: str = "fix or delete that line") -> list[dict[str, Any]]:
    """Every line as an object, after repairing a torn tail; JsonlError names file:line otherwise."""
    return [row for _, row in numbered_rows(path, fix=fix)]


def numbered_rows(path: str | Path, *, fix: str = "fix or delete that line",
                  repair: bool = True) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; see `read_rows`. `repair=False` for files only ever
    replaced whole (never appended to): an unfinished last line is then reported, not cut."""
    path = Path(path)
    if repair:
        repair_torn_tail(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise JsonlError(f"{path}: not UTF-8 text (byte {exc.start}); {fix}") from None
    return parse_lines(path, text, fix)


def parse_lines(path: Path, text: str, fix: str, *, objects: bool = True) -> list[tuple[int, Any]]:
    """(line number, value) for every non-blank line of `text`, read from `path`; see `parse_line`."""
    return [(number, parse_line(path, number, line, fix, objects=objects))
            for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def parse_line(path: Path, number: int, line: str | bytes, fix: str, *, objects: bool = True) -> Any:
    """One line's JSON value; JsonlError naming file:line when it is not JSON (or, with `objects`, not an object)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JsonlError(f"{path}:{number}: not a JSON line ({exc.msg}); {fix}") from None
    except UnicodeDecodeError as exc:
        raise JsonlError(f"{path}:{number}: not UTF-8 text (byte {exc.start} of the line); {fix}") from None
    if objects and not isinstance(row, dict):
        raise JsonlError(f"{path}:{number}: not a JSON object; {fix}")
    return row


def validated(model: type[M], row: dict[str, Any], path: Path, number: int, *, what: str, fix: str) -> M:
    """`row` as `model`; JsonlError `file:line: not <what> (<field>: <problem>); <fix>` otherwise."""
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "line"
        raise JsonlError(f"{path}:{number}: not {what} ({where}: {first['msg']}); {fix}") from None


def validated_rows(path: str | Path, model: type[M], *, what: str, fix: str = "fix or delete that line",
                   repair: bool = True) -> list[M]:
    """Every non-blank line of `path` as `model` (see `numbered_rows` and `validated`)."""
    return [validated(model, row, Path(path), number, what=what, fix=fix)
            for number, row in numbered_rows(path, fix=fix, repair=repair)]


def iter_rows(path: str | Path, *, fix: str = "fix or delete that line") -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(line number, byte offset, object) for every non-blank line, one line in memory at a time; never repairs
    (a torn last line is reported like any other bad line). `read_at(path, offset)` reads one line again."""
    path = Path(path)
    with path.open("rb") as handle:
        offset = 0
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, offset, parse_line(path, number, line, fix)
            offset += len(line)


def read_at(path: str | Path, offset: int) -> dict[str, Any]:
    """The object on the line starting at byte `offset` (an offset `iter_rows` gave)."""
    with Path(path).open("rb") as handle:
        handle.seek(offset)
        return json.loads(handle.readline())


def write_atomic(path: str | Path, text: str) -> None:
    """Replace `path` with `text` in one step (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Appender:
    """Appends one JSON line at a time, flushed and fsynced before returning; safe across threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, line: str) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")
            handle.flush()
            os.fsync(handle.fileno())
