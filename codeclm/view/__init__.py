"""`codeclm view`: a private local viewer of run outputs (docs/viewer.md).

`open_runs` reads the outputs; `write_html` writes one self-contained page; `serve_runs` serves the
page from 127.0.0.1 only. Nothing is fetched from or sent to elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from codeclm.view.coverage import benchmark_pairs
from codeclm.view.load import Run, load_run
from codeclm.view.page import payload, standalone


def open_runs(paths: list[str], seeds: list[str] | None = None) -> list[Run]:
    """Each output in `paths` (names made unique), with the seeds file given for it, if any."""
    seeds = list(seeds or [])
    runs = [load_run(p, seeds[i] if i < len(seeds) else None) for i, p in enumerate(paths)]
    names = [r.name for r in runs]
    for r in runs:
        if names.count(r.name) > 1:
            r.name = str(r.path)
    return runs


def write_html(runs: list[Run], out: str | Path, benchmark: str | None = None) -> Path:
    """One HTML file holding the page, the data and every item's story."""
    out = Path(out)
    bench = benchmark_pairs(benchmark) if benchmark else None
    out.write_text(standalone(runs, bench, Path(benchmark).name if benchmark else None), encoding="utf-8")
    return out


def serve_runs(runs: list[Run], port: int, ready: Callable[[str, int], None], benchmark: str | None = None) -> None:
    """Serve the page on 127.0.0.1 (`port`, else the next free one) until interrupted."""
    from codeclm.view.server import serve

    bench = benchmark_pairs(benchmark) if benchmark else None
    serve(runs, payload(runs, bench, Path(benchmark).name if benchmark else None), port, ready)


__all__ = ["Run", "load_run", "open_runs", "serve_runs", "write_html"]
