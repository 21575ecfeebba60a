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

from pydantic import ValidationError

from codeclm.errors import CodecLMError
from codeclm.jsonl import JsonlError, numbered_rows
from codeclm.records import Dropped, Record
from codeclm.sink import dropped_path

FIX = "give a codeclm run output (the JSONL `codeclm run` wrote), or fix or delete that line"


@dataclass
class Run:
    """One output: its kept records and dropped items as read (plain dicts), and what explains them."""

    name: str
    path: Path
    kept: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    manifest: dict[str, Any] | None = None
    seeds: dict[str, str] = field(default_factory=dict)  # seed id -> text, where the seeds file could be read
    seeds_note: str = ""  # why seed texts are missing, if they are

    @property
    def items(self) -> list[dict[str, Any]]:
        """Kept records first, then dropped items: an item's index here is its number in the page."""
        return self.kept + self.dropped


def load_run(path: str | Path, seeds: str | Path | None = None, name: str | None = None) -> Run:
    """Read `path` (kept records) and its `.dropped.jsonl` sibling; JsonlError names file:line on bad input."""
    path = Path(path)
    if not path.is_file():
        raise JsonlError(f"{path}: no such file; give the JSONL `codeclm run` wrote (its --out)")
    kept = _read(path, Record)
    side = dropped_path(path)
    dropped = _read(side, Dropped) if side.is_file() else []
    if not kept and not dropped:
        raise JsonlError(f"{path}: empty: no kept record and no dropped item"
                         + ("" if side.is_file() else f" (and no {side.name})") + "; give a run's output")
    manifest = _manifest(path)
    run = Run(name or path.stem, path, kept, dropped, manifest)
    run.seeds, run.seeds_note = _seed_texts(path, manifest, seeds)
    return run


def _read(path: Path, model) -> list[dict[str, Any]]:
    """Rows of `path`, each checked to be a `model` (Record or Dropped)."""
    rows = []
    for number, row in numbered_rows(path, fix=FIX, repair=False):
        try:
            model.model_validate(row)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "(line)"
            raise JsonlError(f"{path}:{number}: not a codeclm {'record' if model is Record else 'dropped item'} "
                             f"({where}: {error['msg']}); {FIX}") from None
        rows.append(row)
    return rows


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
    from codeclm.seeds import read_seeds

    spec = ((manifest or {}).get("config") or {}).get("seeds") or {}
    given = str(seeds) if seeds else spec.get("path")
    if not given:
        return {}, "no seeds file known: give --seeds FILE"
    candidates = [given] if given.startswith("benchmark:") or Path(given).is_absolute() else [
        given, str(path.parent / given), str(Path("programs") / given)]
    for candidate in candidates:
        if candidate.startswith("benchmark:") or Path(candidate).is_file():
            try:
                found = read_seeds(candidate, spec.get("field") or "instruction", spec.get("input_field"))
            except CodecLMError as exc:
                return {}, f"seeds not read: {exc}"
            return {s.id: s.text for s in found}, ""
    return {}, f"seeds file {given} not found from here: give --seeds FILE"
