"""Seed instructions in: JSONL, JSON, CSV, one per line, or a bundled set (`benchmark:NAME[:SPLIT]`).

`benchmark:NAME` is the bundled benchmark's 20% `seed` split (`codeclm.seeds.splits`); `:test` and
`:all` name the other rows or every row.
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path
from typing import Any

from codeclm.errors import SeedsError
from codeclm.output.jsonl import JsonlError, parse_lines
from codeclm.output.records import Seed, seed_id
from codeclm.seeds.splits import Split, parse_split

BENCHMARK_PREFIX = "benchmark:"


def bundled_path(name: str) -> Path:
    """Path of a bundled instruction set (`codeclm/datasets/<name>.jsonl`)."""
    path = Path(str(resources.files("codeclm") / "datasets" / f"{name}.jsonl"))
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.jsonl"))
        raise SeedsError(f"{BENCHMARK_PREFIX}{name}: unknown bundled set; known: {', '.join(known)}")
    return path


def bundled_split(path: str | Path) -> Split | None:
    """The bundled benchmark split seeds at `path` come from (`benchmark:NAME[:SPLIT]`, default `seed`; the
    bundled file itself is its `all` split), or None for a file of one's own."""
    text = str(path)
    if text.startswith(BENCHMARK_PREFIX):
        try:
            return parse_split(text[len(BENCHMARK_PREFIX):], "seed", prefix=BENCHMARK_PREFIX)
        except ValueError as exc:
            raise SeedsError(f"seeds.path {exc}") from None
    folder = Path(str(resources.files("codeclm") / "datasets"))
    resolved = Path(text).expanduser().resolve()
    return Split(resolved.stem, "all") if resolved.parent == folder.resolve() and resolved.suffix == ".jsonl" else None


def lookup(row: dict[str, Any], path: str) -> Any:
    """`row['a']['0']['b']` for 'a.0.b' (list indexes allowed); None when any part is missing."""
    node: Any = row
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def rows(path: Path) -> list[Any]:
    """The rows of a JSONL, JSON (a list), CSV or plain-text file; SeedsError names file:line on bad input."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SeedsError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 (e.g. iconv -t UTF-8)") from None
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        try:  # a line may hold an object or the instruction's text as a JSON string
            return [row for _, row in parse_lines(path, text, "fix or delete that line", objects=False)]
        except JsonlError as exc:
            raise SeedsError(str(exc)) from None
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


def read_seeds(path: str | Path, field: str = "instruction", input_field: str | None = None, limit: int | None = None,
               where: dict[str, str | list[str]] | None = None) -> list[Seed]:
    """Read seed instructions (of a bundled benchmark: its split's rows; with `where`, the rows whose fields hold
    one of the given values); SeedsError names the file, line or field."""
    split = bundled_split(path) if str(path).startswith(BENCHMARK_PREFIX) else None
    path = bundled_path(split.benchmark) if split else Path(path)
    if not path.is_file():
        raise SeedsError(f"{path}: seeds file not found")
    found = rows(path)
    if split:
        found = [row for number, row in enumerate(found) if split.holds(number)]
    if not found:
        raise SeedsError(f"{path}: no seeds in file")
    for name, wanted in (where or {}).items():
        found = _matching(path, found, name, [wanted] if isinstance(wanted, str) else wanted)
    if input_field and not any(isinstance(r, dict) and lookup(r, input_field) is not None for r in found):
        raise SeedsError(f"{path}: no row has the input field '{input_field}' (dotted paths like instances.0.input "
                         f"work); fix seeds.input_field or remove it")
    seeds: list[Seed] = []
    for number, row in enumerate(found, 1):
        text = row if isinstance(row, str) else _field_text(path, number, row, field, input_field)
        if text.strip():
            seeds.append(Seed(id=seed_id(text.strip()), text=text.strip()))
        if limit and len(seeds) >= limit:
            break
    if not seeds:
        raise SeedsError(f"{path}: every seed in field '{field}' is empty")
    return seeds


def _matching(path: Path, found: list[Any], name: str, wanted: list[str]) -> list[Any]:
    """The rows whose field `name` equals one of `wanted`; SeedsError when no row has the field or none matches."""
    values = [lookup(row, name) if isinstance(row, dict) else None for row in found]
    present = sorted({str(v) for v in values if v is not None})
    if not present:
        raise SeedsError(f"{path}: no row has the field '{name}' named in seeds.where; fix seeds.where or remove it "
                         "(--set seeds.where=null)")
    kept = [row for row, value in zip(found, values) if value is not None and str(value) in wanted]
    if not kept:
        shown = ", ".join(present[:12]) + (f" (and {len(present) - 12} more)" if len(present) > 12 else "")
        raise SeedsError(f"{path}: no row has {name} = {' or '.join(wanted)} (seeds.where); values found: {shown}")
    return kept


def _field_text(path: Path, number: int, row: Any, field: str, input_field: str | None) -> str:
    """The instruction (and its input, if any) of one row; SeedsError when it is not text."""
    if not isinstance(row, dict):
        raise SeedsError(f"{path}: row {number} is neither text nor an object")
    value = lookup(row, field)
    if value is None:
        raise SeedsError(f"{path}: row {number} has no field '{field}' (fields: {', '.join(map(str, row))}); set seeds.field")
    extra = lookup(row, input_field) if input_field else None
    for name, found in ((field, value), (input_field, extra)):
        if found is not None and not isinstance(found, str):
            raise SeedsError(f"{path}: row {number} field '{name}' is {type(found).__name__}, not text; "
                             "fix the row or point seeds.field / seeds.input_field at a text field")
    return f"{value}\n\n{extra}" if extra and extra.strip() else value
