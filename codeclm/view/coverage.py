"""Coverage: how many items per (use case, skill), in a run's output, in its seeds' metadata, and in a benchmark's.

- output: kept records, one count per record and skill;
- seeds: the metadata encoded from the seeds (origin "encoded:<seed id>"), each metadata counted once,
  whether its instructions were kept or dropped;
- benchmark (optional): a JSONL whose rows carry `metadata: {use_case, skills}` (e.g. a codeclm output
  run with the benchmark as seeds: `--seeds benchmark:vicuna:test`) or `use_case` and `skills` fields.
Use cases are compared lower-cased.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from codeclm.output.jsonl import JsonlError, numbered_rows
from codeclm.output.records import content_id
from codeclm.view.load import Run

Pair = tuple[str, str]


def pairs(metadata: dict[str, Any] | None) -> list[Pair]:
    if not metadata or not metadata.get("use_case"):
        return []
    return [(str(metadata["use_case"]).lower(), str(skill)) for skill in metadata.get("skills") or []]


def output_pairs(run: Run) -> Counter:
    return Counter(p for row in run.light[:run.kept] for p in pairs(row.get("metadata")))


def seed_pairs(run: Run) -> Counter:
    """Pairs of the metadata encoded from seeds, each distinct metadata once."""
    seen: dict[str, dict[str, Any]] = {}
    for row in run.light:
        if str(row.get("metadata_origin") or "").startswith("encoded:") and row.get("metadata"):
            m = row["metadata"]
            seen.setdefault(content_id("m", str(m.get("use_case")).lower(), *sorted(m.get("skills") or [])), m)
    return Counter(p for m in seen.values() for p in pairs(m))


def benchmark_pairs(path: str | Path) -> Counter:
    """Pairs in a benchmark's metadata file; JsonlError names file:line when a row carries none."""
    path = Path(path)
    if not path.is_file():
        raise JsonlError(f"{path}: no such file; give a JSONL whose rows carry metadata (use_case, skills)")
    found: Counter = Counter()
    for number, row in numbered_rows(path, repair=False, fix="give rows with metadata: {use_case, skills}"):
        metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else row
        got = pairs(metadata)
        if not got:
            raise JsonlError(f"{path}:{number}: no use_case and skills (or metadata: {{use_case, skills}}); "
                             "give a JSONL whose rows carry metadata, e.g. a codeclm output run on the benchmark")
        found.update(got)
    if not found:
        raise JsonlError(f"{path}: empty; give a JSONL whose rows carry metadata (use_case, skills)")
    return found


def coverage(run: Run, benchmark: Counter | None = None) -> dict[str, Any]:
    """{"pairs": [[use case, skill, output, seeds, benchmark], ...]} over every pair seen anywhere, most items first."""
    out, seeds, bench = output_pairs(run), seed_pairs(run), benchmark or Counter()
    every: Iterable[Pair] = set(out) | set(seeds) | set(bench)
    rows = [[u, s, out[(u, s)], seeds[(u, s)], bench[(u, s)]] for u, s in every]
    rows.sort(key=lambda r: (-(r[2] + r[3] + r[4]), r[0], r[1]))
    return {"pairs": rows, "benchmark": benchmark is not None}
