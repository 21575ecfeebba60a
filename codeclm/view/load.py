"""A run's output as the viewer reads it: kept records, dropped items, the manifest and the seeds' texts.

Files are read, never written: a torn last line (a run still writing, or killed) is reported with
its file and line, not cut. A line that is not a codeclm record or dropped item is refused the same
way, so a foreign JSONL gives one clear line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeclm.errors import CodecLMError
from codeclm.output.jsonl import JsonlError, iter_rows, read_at, validated
from codeclm.output.records import Dropped, Record
from codeclm.output.sink import dropped_path

FIX = "give a codeclm run output (the JSONL `codeclm run` wrote), or fix or delete that line"


HEAVY = ("response", "strong_response", "target_response", "judge", "history", "answers", "templates", "models")


@dataclass
class Run:
    """One output: per item what the table and coverage need (`light`), and where its whole line is (`row`).

    Kept records come first, then dropped items: an item's index is its number in the page. Whole
    lines are read again from the file when an item is opened, so 100,000 items stay small in memory.
    """

    name: str
    path: Path
    kept: int
    light: list[dict[str, Any]]
    places: list[tuple[Path, int]]
    manifest: dict[str, Any] | None = None
    seeds: dict[str, str] = field(default_factory=dict)  # seed id -> text, where the seeds file could be read
    seeds_note: str = ""  # why seed texts are missing, if they are
    _index: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return len(self.light) - self.kept

    def row(self, item: int) -> dict[str, Any]:
        """Item `item` as written."""
        return read_at(*self.places[item])

    def find(self, item_id: str | None) -> int | None:
        """The index of the item with this id."""
        if not self._index:
            self._index = {row.get("id"): i for i, row in enumerate(self.light)}
        return self._index.get(item_id)


def load_run(path: str | Path, seeds: str | Path | None = None, name: str | None = None) -> Run:
    """Read `path` (kept records) and its `.dropped.jsonl` sibling; JsonlError names file:line on bad input."""
    path = Path(path)
    if not path.is_file():
        raise JsonlError(f"{path}: no such file; give the JSONL `codeclm run` wrote (its --out)")
    light, places = [], []
    kept = _read(path, Record, light, places)
    side = dropped_path(path)
    if side.is_file():
        _read(side, Dropped, light, places)
    if not light:
        raise JsonlError(f"{path}: empty: no kept record and no dropped item"
                         + ("" if side.is_file() else f" (and no {side.name})") + "; give a run's output")
    manifest = _manifest(path)
    run = Run(name or path.stem, path, kept, light, places, manifest)
    run.seeds, run.seeds_note = _seed_texts(path, manifest, seeds)
    return run


def _read(path: Path, model, light: list, places: list) -> int:
    """Add each row of `path`, checked to be a `model` (Record or Dropped); returns how many."""
    count = 0
    for number, offset, row in iter_rows(path, fix=FIX):
        validated(model, row, path, number, what="a codeclm record" if model is Record else "a codeclm dropped item",
                  fix=FIX)
        gaps = [a.get("gap") for a in row.get("history") or [] if a.get("gap") is not None]
        light.append({**{k: v for k, v in row.items() if k not in HEAVY}, "last_gap": gaps[-1] if gaps else None})
        places.append((path, offset))
        count += 1
    return count


def _manifest(path: Path) -> dict[str, Any] | None:
    """The run's manifest, if it is there and readable (the viewer works without it)."""
    manifest = path.with_name(path.stem + ".manifest.json")
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _seed_texts(path: Path, manifest: dict[str, Any] | None, seeds: str | Path | None) -> tuple[dict[str, str], str]:
    """Seed id -> text from `seeds`, else from the seeds file the manifest names (tried relative to the current
    folder, the output's folder and ./programs, as the program file's folder is not recorded)."""
    from codeclm.seeds.readers import read_seeds

    spec = ((manifest or {}).get("config") or {}).get("seeds") or {}
    given = str(seeds) if seeds else spec.get("path")
    if not given:
        return {}, "no seeds file known: give --seeds FILE"
    candidates = [given] if given.startswith("benchmark:") or Path(given).is_absolute() else [
        given, str(path.parent / given), str(Path("programs") / given)]
    for candidate in candidates:
        if candidate.startswith("benchmark:") or Path(candidate).is_file():
            try:
                found = read_seeds(candidate, spec.get("field") or "instruction", spec.get("input_field"),
                                   where=None if seeds else spec.get("where"))
            except CodecLMError as exc:
                return {}, f"seeds not read: {exc}"
            return {s.id: s.text for s in found}, ""
    return {}, f"seeds file {given} not found from here: give --seeds FILE"
