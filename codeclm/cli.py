"""The `codeclm` command: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from rich.console import Console
from rich.table import Table

from codeclm.errors import CodecLMError

console = Console(stderr=True)


def _cmd_run(args: argparse.Namespace) -> int:
    from codeclm.run import run_file

    summary = run_file(args.program, args.set, seeds_path=args.seeds, output=args.out, console=console)
    _print_summary(summary)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    """Print each step's rendered instructions, so template edits can be checked before a run."""
    from codeclm.config import load_config
    from codeclm.program import STEPS
    from codeclm.templates import PromptLibrary

    config = load_config(args.program, args.set)
    prompts = PromptLibrary(config.resolve(config.prompts), config.template_variables())
    for step in args.steps or STEPS:
        rendered = prompts.render(step)
        console.rule(f"{step}  ({rendered.path}, {len(rendered.demos)} demos, sha256 {rendered.sha256[:12]})")
        print(rendered.instructions)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from codeclm.local import DEFAULT_STRONG, DEFAULT_TARGET, serve_forever

    serve_forever(args.models or [DEFAULT_STRONG, DEFAULT_TARGET])
    return 0


def _print_summary(summary: dict) -> None:
    table = Table(title=f"codeclm run: {summary['program']}", show_header=False)
    table.add_row("kept records", str(summary["kept"]))
    for reason, count in summary["dropped_by_reason"].items():
        table.add_row(f"dropped ({reason})", str(count))
    table.add_row("kept by source", json.dumps(summary["kept_by_source"]))
    table.add_row("Self-Rubrics iteration", json.dumps(summary["iterations"]))
    for key, value in summary.get("extra_rows", {}).items():
        table.add_row(key, str(value))
    table.add_row("wall time", f"{summary['wall_seconds']} s")
    table.add_row("output", summary["output"])
    console.print(table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codeclm", description="CodecLM synthetic instruction data as a DSPy program")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True)

    def program_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("program", help="program YAML, e.g. programs/codeclm.yaml")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. num_metadata=10")
        return p

    p = program_command("run", "run a program and write its dataset")
    p.add_argument("--seeds", help="seeds file (overrides seeds.path)")
    p.add_argument("--out", help="output JSONL (overrides output)")
    p.set_defaults(func=_cmd_run)

    p = program_command("show", "print the rendered prompt of each step")
    p.add_argument("steps", nargs="*", help="steps to show (default: all)")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("serve", help="keep local model servers up so runs reuse them (Ctrl-C stops)")
    p.add_argument("models", nargs="*", help="local model names (default: the strong and target defaults)")
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CodecLMError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished records are kept; rerun the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
