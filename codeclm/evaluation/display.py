"""The eval table: overall and per category, with the rule, the CI and the judge's consistency."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from codeclm.evaluation.results import EvalReport, Tally


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _row(table: Table, tally: Tally, ci: str = "") -> None:
    table.add_row(tally.category, str(tally.judged), str(tally.wins), str(tally.ties), str(tally.losses),
                  str(tally.errors), _pct(tally.crr), ci)


def print_report(report: EvalReport, console: Console) -> None:
    """Overall first (with its bootstrap CI), then one row per category."""
    title = (f"CRR on {report.benchmark}: {report.candidate} vs {report.reference} "
             f"(judge {report.judge}, {report.judge_scheme}, rule '{report.rule}')")
    table = Table(title=title)
    for column in ("category", "judged", "win", "tie", "loss", "errors", "CRR %", f"{100 * report.confidence:.0f}% CI"):
        table.add_column(column, justify="left" if column == "category" else "right")
    ci = "-" if report.ci_low is None else f"{_pct(report.ci_low)}-{_pct(report.ci_high)}"
    _row(table, report.overall, ci)
    if len(report.per_category) > 1:
        table.add_section()
        for tally in report.per_category:
            _row(table, tally)
    console.print(table)
    j = report.judge_consistency
    console.print(f"judge consistency: orders agree {_pct(j.orders_agree)}%, answer shown first wins "
                  f"{_pct(j.first_position_wins)}% of decisive orders; mean score candidate "
                  f"{_fmt(j.mean_candidate_score)}, reference {_fmt(j.mean_reference_score)}")
    console.print(f"per-item judgments: {report.items_path}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
