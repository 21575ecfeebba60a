"""The table the page filters and sorts: one row per kept or dropped item, in columns, strings interned.

Columns rather than one object per row, and repeated strings (use cases, skills, reasons, models)
as indexes into one list: 100,000 rows stay a few tens of MB of JSON that the browser parses once.
"""

from __future__ import annotations

import re
from typing import Any

from codeclm.view.load import Run

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
KINDS = ("kept", "filtered", "failed")


def reason_kind(reason: str) -> str:
    """A reason with its numbers replaced by '#': what the reason filter groups by ("gap # > theta #")."""
    return _NUMBER.sub("#", reason)


class Strings:
    """Interned strings: each distinct string once, referred to by its index."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str | None) -> int:
        value = value or ""
        if value not in self._index:
            self._index[value] = len(self.values)
            self.values.append(value)
        return self._index[value]


def table(runs: list[Run]) -> dict[str, Any]:
    """Every item of every run as columns: run, id, kind, stage, reason (grouped), use case, skills, iteration,
    source ("strong"/"target"), model (of the kept answer), gap, instruction."""
    strings = Strings()
    columns: dict[str, list] = {name: [] for name in (
        "run", "item", "id", "kind", "stage", "reason", "use_case", "skills", "iteration", "source", "model", "gap",
        "instruction")}
    for r, run in enumerate(runs):
        for i, row in enumerate(run.light):
            kept = i < run.kept
            metadata = row.get("metadata") or {}
            reason = row.get("decision") if kept else row.get("reason")
            columns["run"].append(r)
            columns["item"].append(i)
            columns["id"].append(row.get("id", ""))
            columns["kind"].append(0 if kept else KINDS.index(row.get("kind", "failed")))
            columns["stage"].append(strings("kept" if kept else row.get("stage")))
            columns["reason"].append(strings(reason_kind(reason or "")))
            columns["use_case"].append(strings((metadata.get("use_case") or "").lower()))
            columns["skills"].append([strings(s) for s in metadata.get("skills") or []])
            columns["iteration"].append(row.get("iteration"))
            columns["source"].append(strings(row.get("response_source") if kept else ""))
            columns["model"].append(strings(row.get("response_model") if kept else ""))
            gap = row.get("gap") if kept else row.get("last_gap")
            columns["gap"].append(None if gap is None else round(gap, 4))
            columns["instruction"].append(row.get("instruction") or "")
    return {"strings": strings.values, "kinds": list(KINDS), **columns}

