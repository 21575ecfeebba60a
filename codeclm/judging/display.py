"""Calibration figures per scheme, as a table (`codeclm judge check`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


NOTE = ("Passing is necessary, not sufficient: the pairs hold gross defects (cut-off, off-topic, refusal, empty). "
        "A judge that passes may still miss real quality gaps between the strong and the target answer.")


def table(reports) -> Table:
    t = Table(title="judge calibration (known-better answer pairs)")
    for col in ("scheme", "judge", "correct", "accuracy", "orders agree", "first-position share", "gap > theta", "by kind", "s / pair", "result"):
        t.add_column(col)
    for r in reports:
        t.add_row(
            r.scheme, r.judge_model, f"{r.correct}/{r.pairs}", f"{r.accuracy:.0%}",
            "n/a" if r.order_consistency is None else f"{r.order_consistency:.0%}",
            "n/a" if r.position_bias is None else f"{r.position_bias:.2f}",
            f"{r.above_threshold:.0%} (theta {r.threshold:g})", " ".join(f"{k} {v}" for k, v in r.by_kind.items()),
            f"{r.seconds_per_pair:.1f}{' (cached)' if r.cached else ''}", "pass" if r.passed else "FAIL",
        )
    return t
