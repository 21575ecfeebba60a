"""`codeclm plan PROGRAM.yaml [--records N]`: what a records: N run will make and cost, before it is paid.

The projection (codeclm.output.sizing) comes from a pilot: the same program asked for a few records (`--pilot`,
default 10) into `<output>.pilot.jsonl`, on the same call cache, so every call the pilot pays is replayed
for free by the real run; or from an earlier run's manifest (`--from`). The plan is written beside the
output (`<output>.plan.json`); the real run's manifest then shows projected beside actual.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from codeclm.console.args import int_range
from codeclm.errors import ConfigError

PILOT_RECORDS = 10


def pilot_path(output: Path) -> Path:
    return output.with_name(output.stem + ".pilot.jsonl")


def plan(config, *, records: int | None = None, pilot: int = PILOT_RECORDS, from_manifest: str | None = None,
         output: str | None = None, console=None) -> dict[str, Any]:
    """Project a records: N run of `config`; write and return the plan."""
    from codeclm.output.sizing import observed, project, write_plan

    wanted = records or config.records
    if not wanted:
        raise ConfigError(f"{config.source}: records: plan sizes a records: N run; give --records N or set records in the program")
    if config.program != "codeclm":
        raise ConfigError(f"{config.source}: program {config.program}: codeclm plan sizes records: N runs of program codeclm")
    out = Path(output) if output else config.resolve(config.output)
    pilot_paid = None
    if from_manifest:
        summary = _read_manifest(Path(from_manifest))
        source = f"manifest {from_manifest}"
    else:
        from codeclm.run import read_manifest, run

        size = max(1, min(pilot, wanted))
        where = pilot_path(out)
        summary = read_manifest(where)
        if not (summary and summary.get("status") == "finished" and summary.get("kept", 0) >= size):
            if console is not None:
                console.print(f"[bold]Pilot[/]: {size} records into {where} (its calls are cached; the real run replays them)")
            summary = run(config.model_copy(update={"records": size}), output=str(where), console=console)
        source = f"pilot of {size} records ({where})"
        pilot_paid = observed(summary)["work"]
    result = {"program": config.name, "source": source, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "projection": project(observed(summary), wanted), "pilot_paid": pilot_paid}
    result["path"] = str(write_plan(out, result))
    return result


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--from {path}: cannot read it ({exc.strerror or exc}); give a run's .manifest.json") from None
    except ValueError:
        raise ConfigError(f"--from {path}: not JSON; give a run's .manifest.json") from None
    if not isinstance(summary, dict) or "usage" not in summary or "kept" not in summary:
        raise ConfigError(f"--from {path}: not a finished run's manifest (no usage / kept); give a run's .manifest.json")
    return summary


def plan_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, projected, 95% interval) rows for display."""
    projection = result["projection"]
    if not projection.get("measures"):
        return [("projection", projection.get("note", "none"), "")]
    def fmt(name: str, value) -> str:
        if value is None:
            return "unbounded"
        if name == "seconds":
            return f"{value / 60:,.1f} min" if value >= 120 else f"{value:,.1f} s"
        return f"${value:,.4f}" if name == "usd" else f"{value:,.0f}"
    rows = [("records", f"{projection['records']}", ""),
            ("yield (kept / asked)", f"{projection['yield']:.3f}", "{:.3f} .. {:.3f}".format(*projection["yield_interval"])),
            ("instructions asked", fmt("", projection["instructions"]["point"]),
             f"{fmt('', projection['instructions']['low'])} .. {fmt('', projection['instructions']['high'])}")]
    names = {"calls": "calls", "prompt_tokens": "tokens in", "completion_tokens": "tokens out", "usd": "dollars",
             "seconds": "wall time"}
    for name, label in names.items():
        m = projection["measures"][name]
        rows.append((label, fmt(name, m["point"]), f"{fmt(name, m['low'])} .. {fmt(name, m['high'])}"))
    return rows


def quota_rows(summary: dict[str, Any], most: int = 12) -> list[tuple[str, str]]:
    """Summary rows of a records: N run: the count and each cell's kept / asked / yield (cells below their quota
    first, when the run ended short of N)."""
    quota = summary["quota"]
    rows = [("records asked for", f"{quota['kept']} of {quota['records']} kept, {quota['asked']} instructions asked"
             + (f" (yield {quota['yield']:.2f})" if quota.get("yield") is not None else "")
             + (f"; short by {quota['short_by']}" if quota.get("short_by") else ""))]
    below = quota.get("short_cells") or {}
    cells = sorted(quota["cells"].items(), key=lambda kv: (kv[0] not in below, -kv[1]["asked"], kv[0]))
    for name, cell in cells[:most]:
        shown = f"{cell['yield']:.2f}" if cell["yield"] is not None else "-"
        short = f", below its quota of {below[name]['quota']}" if name in below else ""
        rows.append((f"  {name}", f"kept {cell['kept']} / asked {cell['asked']} (yield {shown}){short}"))
    if len(cells) > most:
        rows.append(("  ...", f"{len(cells) - most} more cells in the manifest"))
    return rows


def _cmd_plan(args) -> int:
    import sys

    from rich.console import Console
    from rich.table import Table

    from codeclm.models.config import load_config

    console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())
    config = load_config(args.program, args.set)
    result = plan(config, records=args.records, pilot=args.pilot, from_manifest=args.from_manifest, output=args.out,
                  console=console)
    table = Table(title=f"codeclm plan: {config.name}, from the {result['source']}")
    table.add_column("measure")
    table.add_column("projected", justify="right")
    table.add_column("95% interval (yield)", justify="right")
    for row in plan_rows(result):
        table.add_row(*row)
    console.print(table)
    if result.get("pilot_paid"):
        paid = result["pilot_paid"]
        console.print(f"the pilot paid {paid['calls']:.0f} calls, ${paid['usd']:.4f}: the real run replays them from the cache",
                      highlight=False)
    console.print(f"plan: {result['path']} (the run's manifest will show projected vs actual)", highlight=False)
    return 0


def add_plan_command(sub, program_command) -> None:
    """Wire `codeclm plan` into the CLI's subcommands."""
    p = program_command("plan", "project calls, tokens, dollars and wall time of a records: N run before paying for it")
    p.add_argument("--records", type=int_range(1), metavar="N", help="records the run will keep (default: records in the program)")
    p.add_argument("--pilot", type=int_range(1), default=PILOT_RECORDS, metavar="K",
                   help=f"records the pilot keeps (default {PILOT_RECORDS}); its calls are cached and reused by the run")
    p.add_argument("--from", dest="from_manifest", metavar="MANIFEST", help="project from an earlier run's manifest, no pilot")
    p.add_argument("--out", help="the run's output (default: output); the plan is written beside it")
    p.set_defaults(func=_cmd_plan)
