"""Seeds in (JSONL, JSON, CSV or plain lines), records out (append-only JSONL, resumable)."""

from __future__ import annotations

import csv
import json
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel

from codeclm.errors import SeedsError
from codeclm.records import Seed

BENCHMARK_PREFIX = "benchmark:"


def bundled_path(name: str) -> Path:
    """Path of a bundled instruction set (`codeclm/datasets/<name>.jsonl`)."""
    path = Path(str(resources.files("codeclm") / "datasets" / f"{name}.jsonl"))
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.jsonl"))
        raise SeedsError(f"{BENCHMARK_PREFIX}{name}: unknown bundled set; known: {', '.join(known)}")
    return path


def _rows(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SeedsError(f"{path}:{number}: invalid JSON line: {exc.msg}") from None
        return rows
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SeedsError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(data, list):
            raise SeedsError(f"{path}: expected a JSON list of seeds")
        return data
    if suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_seeds(path: str | Path, field: str = "instruction", input_field: str | None = None, limit: int | None = None) -> list[Seed]:
    """Read seed instructions; raise SeedsError naming the file, line or field on bad input."""
    path = bundled_path(str(path)[len(BENCHMARK_PREFIX):]) if str(path).startswith(BENCHMARK_PREFIX) else Path(path)
    if not path.is_file():
        raise SeedsError(f"{path}: seeds file not found")
    rows = _rows(path)
    if not rows:
        raise SeedsError(f"{path}: no seeds in file")
    seeds = []
    for number, row in enumerate(rows, 1):
        if isinstance(row, str):
            text = row
        elif isinstance(row, dict):
            if field not in row:
                raise SeedsError(f"{path}: row {number} has no field '{field}' (fields: {', '.join(map(str, row))}); set seeds.field")
            text = str(row[field] or "")
            extra = row.get(input_field) if input_field else None
            if extra:
                text = f"{text}\n\n{extra}"
        else:
            raise SeedsError(f"{path}: row {number} is neither text nor an object")
        if text.strip():
            seeds.append(Seed(id=f"s{len(seeds)}", text=text.strip()))
        if limit and len(seeds) >= limit:
            break
    if not seeds:
        raise SeedsError(f"{path}: every seed in field '{field}' is empty")
    return seeds


class JsonlSink:
    """Append-only JSONL: each record flushed and fsynced as written; ids already present are skipped."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.ids = set(existing_ids(self.path))

    def write(self, record: BaseModel) -> bool:
        with self._lock:
            if record.id in self.ids:
                return False
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(record.model_dump_json() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self.ids.add(record.id)
            return True


def existing_ids(path: Path) -> Iterable[str]:
    """Ids of complete lines; a torn last line (killed mid-write) is cut off so appends stay valid."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as handle:
            handle.truncate(end)
    ids = []
    for line in data[:end].splitlines():
        try:
            ids.append(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return ids


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
