"""The eval table: overall and per category, with the rule, the CI, failures, warnings and the judge's consistency."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from codeclm.evaluation.results import EvalReport, Tally
from codeclm.console.tables import print_table

NA = "n/a"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _row(table: Table, tally: Tally, ci: str = "") -> None:
    table.add_row(tally.category, str(tally.items), str(tally.wins), str(tally.ties), str(tally.losses),
                  str(tally.failed), _pct(tally.crr), ci)


def title(report: EvalReport) -> str:
    split = f" ({report.split} split)" if report.split else ""
    how = (f"rule '{report.rule}'" if report.outcome_kind == "both_orders"
           else f"pointwise: one outcome per item, rule {NA}")
    return (f"CRR on {report.benchmark}{split}: {report.candidate} vs {report.reference} "
            f"(judge {report.judge}, {report.judge_scheme}, {how})")


def print_report(report: EvalReport, console: Console) -> None:
    """Overall first (with its bootstrap CI), then one row per category, then what to know about the numbers."""
    table = Table(title=title(report))
    for column in ("category", "items", "win", "tie", "loss", "of which failed", "CRR %", f"{100 * report.confidence:.0f}% CI"):
        table.add_column(column, justify="left" if column == "category" else "right")
    ci = "-" if report.ci_low is None else f"{_pct(report.ci_low)}-{_pct(report.ci_high)}"
    _row(table, report.overall, ci)
    if len(report.per_category) > 1:
        table.add_section()
        for tally in report.per_category:
            _row(table, tally)
    print_table(console, table)
    for line in notes(report):
        console.print(line, highlight=False)
    console.print(f"per-item judgments: {report.items_path}", highlight=False)


def notes(report: EvalReport) -> list[str]:
    """Warnings, failures, resume and the judge's consistency figures, one line each."""
    lines = [f"[bold yellow]warning:[/] {w}" for w in report.warnings]
    if report.overall.failed:
        by = ", ".join(f"{who} {n}" for who, n in sorted(report.failures.items()))
        lines.append(f"failed: {report.overall.failed} items ({by}), counted as losses; rerun the same command to retry them")
    if report.judged_again:
        lines.append(f"resume: {report.judged_again} stored judgments were made with other settings and were judged again")
    j = report.judge_consistency
    if report.outcome_kind == "both_orders":
        orders = (f"orders agree {_pct(j.orders_agree)}%, answer shown first wins {_pct(j.first_position_wins)}% "
                  "of decisive orders")
    else:
        orders = f"orders agree {NA}, first position {NA} (pointwise: each answer rated alone)"
    lines.append(f"judge consistency: {orders}; mean score candidate {_fmt(j.mean_candidate_score)}, "
                 f"reference {_fmt(j.mean_reference_score)}")
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
