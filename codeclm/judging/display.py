"""Calibration figures per scheme, as a table (`codeclm judge check`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


NOTE = ("The right decision of an item comes from the target itself: keep where it fails the task, send back where it "
        "solves it. A pass means the signal tells those apart at its threshold better than a coin, with 95% confidence.")


def table(reports) -> Table:
    t = Table(title="filter check (items whose right decision is known)")
    for col in ("scheme", "judge", "right at theta", "accuracy (95% CI)", "keep", "send back", "gap > 0", "s / item", "result"):
        t.add_column(col)
    for r in reports:
        t.add_row(
            r.scheme, r.judge_model, f"{r.correct}/{r.items} (theta {r.theta:g})", f"{r.accuracy:.0%} ({r.ci_low:.0%}-{r.ci_high:.0%})",
            r.by_decision["keep"], r.by_decision["send_back"], f"{r.sign_accuracy:.0%}", f"{r.seconds_per_item:.1f}",
            "pass" if r.passed else r.verdict,
        )
    return t
