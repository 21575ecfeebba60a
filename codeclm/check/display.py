"""Filter check figures per scheme, as a table (`codeclm judge check`)."""

from __future__ import annotations

from rich.table import Table

NOTE = ("Items carry a known right decision (labelled by reading both answers, or a quiz the target's own answer "
        "settles). A pass means the filter's own path decides keep / send back right at its threshold better than a coin "
        "and better than the best trivial rule (lengths, use case), with 95% confidence.")


def table(reports) -> Table:
    t = Table(title="filter check (items whose right decision is known)")
    for col in ("scheme", "right at theta", "accuracy (95% CI)", "keep", "send back", "best trivial rule (difference 95% CI)",
                "guards", "result"):
        t.add_column(col, overflow="fold")
    for r in reports:
        if r.target_is_the_strong_model:
            t.add_row(f"{r.scheme} ({r.judge_model})", "-", "-", "-", "-", "-", "-", r.verdict)
            continue
        base = (f"{r.baseline['rule']}: {r.baseline['check_accuracy']:.0%} ({r.baseline['difference_ci'][0]:+.0%} to "
                f"{r.baseline['difference_ci'][1]:+.0%})") if r.baseline else "-"
        guards = ", ".join(f"{k} {v}" for k, v in r.guards.items()) or "-"
        t.add_row(f"{r.scheme} ({r.judge_model})", f"{r.correct}/{r.items} (theta {r.theta:g})",
                  f"{r.accuracy:.0%} ({r.ci_low:.0%}-{r.ci_high:.0%})", r.by_decision["keep"], r.by_decision["send_back"], base, guards,
                  "pass" if r.passed else r.verdict)
    return t
