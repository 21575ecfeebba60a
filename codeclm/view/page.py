"""The page: one HTML document with its CSS and JavaScript inline (nothing is fetched from elsewhere).

Served, it asks the local server for the data (`/api/data`) and for one item's story at a time
(`/api/story`). Written to a file (`--html`), the data and every story are inside it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from codeclm.view.coverage import coverage
from codeclm.view.load import Run
from codeclm.view.story import story
from codeclm.view.table import table


def _static(name: str) -> str:
    return (resources.files("codeclm.view") / "static" / name).read_text(encoding="utf-8")


def payload(runs: list[Run], benchmark=None, benchmark_name: str | None = None) -> dict[str, Any]:
    """What the page shows: the runs, the items table, and coverage per run."""
    return {
        "runs": [summary(run) for run in runs],
        "table": table(runs),
        "coverage": [coverage(run, benchmark) for run in runs],
        "benchmark": benchmark_name,
    }


def summary(run: Run) -> dict[str, Any]:
    """A run's header: where it is, its counts, and what its manifest says of how it was made."""
    manifest = run.manifest or {}
    return {
        "name": run.name, "path": str(run.path), "kept": run.kept, "dropped": run.dropped,
        "program": manifest.get("program"), "status": manifest.get("status"), "models": manifest.get("models"),
        "judge": {k: v for k, v in (manifest.get("judge") or {}).items() if k != "check"} or None,
        "seeds": (manifest.get("seeds") or {}).get("path"), "seeds_note": run.seeds_note,
    }


def to_json(data: Any) -> str:
    """JSON that is safe inside a <script> element (no '<' can end it)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def page(embedded: dict[str, Any] | None = None, stories: list[list[dict[str, Any]]] | None = None) -> str:
    """The HTML document: served (no data inside) or self-contained (`embedded` data and every story)."""
    data = "" if embedded is None else f'<script type="application/json" id="data">{to_json(embedded)}</script>'
    told = "" if stories is None else f'<script type="application/json" id="stories">{to_json(stories)}</script>'
    return (_static("viewer.html")
            .replace("/*CSS*/", _static("viewer.css"))
            .replace("<!--DATA-->", data + told)
            .replace("/*JS*/", _static("viewer.js")))


def standalone(runs: list[Run], benchmark=None, benchmark_name: str | None = None) -> str:
    """One self-contained HTML file: the data and every item's story inside."""
    stories = [[story(runs, r, i) for i in range(len(run.light))] for r, run in enumerate(runs)]
    return page(payload(runs, benchmark, benchmark_name), stories)
