"""Benchmarks for CRR evaluation: bundled Vicuna / Self-Instruct sets, or any JSONL with an instruction field.

A bundled set is scored on its 80% `test` split unless another is named (`vicuna:all`, `self_instruct:seed`):
its `seed` split is what `benchmark:NAME` seeds a program with (codeclm.seeds.splits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codeclm.errors import CodecLMError, SeedsError
from codeclm.seeds.readers import BENCHMARK_PREFIX, bundled_path, lookup, rows
from codeclm.seeds.splits import Split, parse_split


class BenchmarkError(CodecLMError):
    """A benchmark that is unknown, empty, malformed or lacks the configured field."""


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    instruction: str
    category: str


@dataclass(frozen=True)
class Fields:
    """Where a row keeps its instruction, optional input, category and id (dotted paths, e.g. instances.0.input)."""

    instruction: str = "instruction"
    input: str | None = None
    category: str | None = "category"
    id: str | None = "id"


BUNDLED = {
    "vicuna": Fields(instruction="text", category="category", id="question_id"),
    "self_instruct": Fields(instruction="instruction", input="instances.0.input", category="motivation_app", id="id"),
}


@dataclass(frozen=True)
class Source:
    """Where a benchmark's items come from: a bundled set's split, or a file of one's own (split None)."""

    name: str
    path: Path
    fields: Fields
    split: Split | None = None


def resolve(name: str) -> Source:
    """'vicuna', 'vicuna:all', 'benchmark:vicuna:seed' or a file path -> its Source (a bundled set: test split)."""
    bare = name[len(BENCHMARK_PREFIX):] if name.startswith(BENCHMARK_PREFIX) else name
    base = bare.partition(":")[0]
    if base in BUNDLED:
        try:
            split = parse_split(bare, "test", prefix="--benchmark ")
        except ValueError as exc:
            raise BenchmarkError(str(exc)) from None
        return Source(base, bundled_path(base), BUNDLED[base], split)
    path = Path(name).expanduser()
    if path.is_file():
        return Source(path.stem, path, Fields())
    raise BenchmarkError(f"unknown benchmark '{name}': not a bundled set ({', '.join(BUNDLED)}) and no such file")


def load_benchmark(name: str, field: str | None = None, input_field: str | None = None,
                   category_field: str | None = None, limit: int | None = None) -> tuple[str, list[BenchmarkItem]]:
    """Read a benchmark's instructions (+ input) and categories (a bundled set: its split's rows, default test);
    BenchmarkError names the file, row and field."""
    source = resolve(name)
    path, defaults = source.path, source.fields
    fields = Fields(field or defaults.instruction, input_field or defaults.input,
                    category_field or defaults.category, defaults.id)
    try:
        found = rows(path)
    except SeedsError as exc:
        raise BenchmarkError(str(exc)) from None
    if not found:
        raise BenchmarkError(f"{path}: empty benchmark file")
    items: list[BenchmarkItem] = []
    for number, row in enumerate(found, 1):
        if source.split and not source.split.holds(number - 1):
            continue
        if isinstance(row, str):
            row = {fields.instruction: row}
        if not isinstance(row, dict):
            raise BenchmarkError(f"{path}: row {number} is neither text nor an object")
        text = lookup(row, fields.instruction)
        if text is None:
            raise BenchmarkError(f"{path}: row {number} has no field '{fields.instruction}' "
                                 f"(fields: {', '.join(map(str, row))}); pass --field")
        extra = lookup(row, fields.input) if fields.input else None
        text = f"{str(text).strip()}\n\n{str(extra).strip()}" if extra and str(extra).strip() else str(text).strip()
        if not text:
            continue
        raw_id = lookup(row, fields.id) if fields.id else None
        category = lookup(row, fields.category) if fields.category else None
        items.append(BenchmarkItem(id=str(raw_id if raw_id is not None else f"q{number}"), instruction=text,
                                   category=str(category) if category not in (None, "") else "all"))
        if limit and len(items) >= limit:
            break
    if not items:
        raise BenchmarkError(f"{path}: every instruction in field '{fields.instruction}' is empty")
    return source.name, items
