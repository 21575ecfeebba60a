"""Sizing a records: N run from what a smaller run observed: calls, tokens, dollars and wall time, with an interval.

The model is the one the pipeline has: every instruction asked costs about the same (its decode share,
strong and target answers, the judge, Self-Rubrics and improvements when too easy), and a share p of the
instructions asked is kept. N records then need N / p instructions. p is what the observed run measured,
with a 95% Wilson interval (the interval of the projection comes from it: few kept records, wide
interval); the cost per instruction is the observed mean. The filter check is paid once per program and
model (then cached), so it is counted apart. Pure functions: `codeclm plan` (codeclm.plan) runs the pilot.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from codeclm.output.jsonl import write_atomic

Z95 = 1.959964
MEASURES = ("calls", "prompt_tokens", "completion_tokens", "usd", "seconds")


def plan_path(output: Path) -> Path:
    return Path(output).with_name(Path(output).stem + ".plan.json")


def wilson(kept: int, asked: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion kept / asked."""
    if asked <= 0:
        return 0.0, 1.0
    p = kept / asked
    centre = (p + z * z / (2 * asked)) / (1 + z * z / asked)
    half = z * math.sqrt(p * (1 - p) / asked + z * z / (4 * asked * asked)) / (1 + z * z / asked)
    return max(0.0, centre - half), min(1.0, centre + half)


def asked_of(summary: dict[str, Any]) -> int:
    """Instructions that reached a decision (kept, or dropped by the filter or a guard) in a run's summary."""
    quota = summary.get("quota") or {}
    if quota.get("asked"):
        return int(quota["asked"])
    decided = sum(n for reason, n in (summary.get("dropped_by_reason") or {}).items()
                  if reason.startswith("filtered: too easy") or reason == "filtered at guard")
    return int(summary.get("kept", 0)) + decided


def observed(summary: dict[str, Any]) -> dict[str, Any]:
    """What a finished run (its summary or manifest) says per asked instruction."""
    total = (summary.get("usage") or {}).get("total") or {}
    check_calls = ((summary.get("judge") or {}).get("check") or {}).get("calls") or 0
    asked = asked_of(summary)
    work = {
        "calls": total.get("calls", 0) + total.get("cache_hits", 0) - check_calls,
        "prompt_tokens": total.get("prompt_tokens", 0),
        "completion_tokens": total.get("completion_tokens", 0),
        "usd": total.get("cost") or 0.0,
        "seconds": summary.get("wall_seconds", 0.0),
    }
    return {"kept": int(summary.get("kept", 0)), "asked": asked, "check_calls": check_calls,
            "paid_calls": total.get("calls", 0), "work": work,
            "per_instruction": {k: (v / asked if asked else None) for k, v in work.items()}}


def project(seen: dict[str, Any], records: int) -> dict[str, Any]:
    """Projected totals for `records` kept records: point estimate and 95% interval per measure."""
    kept, asked = seen["kept"], seen["asked"]
    if asked == 0 or kept == 0:
        return {"records": records, "yield": None, "instructions": None, "measures": None,
                "note": f"the observed run kept {kept} of {asked} instructions: no yield to project from; "
                        f"run a larger pilot (--pilot) or check the filter (codeclm judge check)"}
    p = kept / asked
    low, high = wilson(kept, asked)
    need = {"point": records / p, "low": records / high, "high": records / low if low > 0 else None}
    measures = {}
    for name in MEASURES:
        per = seen["per_instruction"][name] or 0.0
        measures[name] = {k: (None if v is None else round(v * per, 4 if name == "usd" else 1)) for k, v in need.items()}
    return {"records": records, "yield": round(p, 4), "yield_interval": [round(low, 4), round(high, 4)],
            "instructions": {k: (None if v is None else round(v, 1)) for k, v in need.items()},
            "measures": measures, "observed": {"kept": kept, "asked": asked, "check_calls": seen["check_calls"]}}


def write_plan(output: Path, plan: dict[str, Any]) -> Path:
    path = plan_path(output)
    write_atomic(path, json.dumps(plan, indent=2) + "\n")
    return path


def read_plan(output: Path) -> dict[str, Any] | None:
    path = plan_path(output)
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, ValueError):
        return None


def compare_with_plan(output: Path, summary: dict[str, Any]) -> dict[str, Any] | None:
    """Projected (the plan `codeclm plan` wrote for this output) beside what this run did; None without a plan."""
    plan = read_plan(output)
    projection = (plan or {}).get("projection") or {}
    if not projection.get("measures"):
        return None
    actual = dict(observed(summary)["work"])
    for name in ("prompt_tokens", "completion_tokens", "usd", "seconds"):  # the pilot paid these; the run replayed them
        actual[name] += (plan.get("pilot_paid") or {}).get(name, 0)
    rows = {}
    for name in MEASURES:
        projected = projection["measures"][name]
        point = projected.get("point")
        error = round((actual[name] - point) / point, 3) if point else None
        inside = (projected.get("low") is not None and projected.get("high") is not None
                  and projected["low"] <= actual[name] <= projected["high"])
        rows[name] = {"projected": projected, "actual": round(actual[name], 4), "relative_error": error, "in_interval": inside}
    return {"source": plan.get("source"), "records": projection.get("records"), "measures": rows}
