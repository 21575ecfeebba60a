"""The `codeclm` command: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from codeclm.console.args import OneLineParser, float_range, int_range, non_negative_int, positive_int
from codeclm.errors import CodecLMError

console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())  # logs and CI: one error, one line


def _cmd_run(args: argparse.Namespace) -> int:
    from codeclm.run import run_file

    overrides = list(args.set) + ([f"records={args.records}"] if args.records is not None else [])
    if args.trace:
        from codeclm.models.config import load_config
        from codeclm.console.tracing import start_tracing

        config = load_config(args.program, overrides)
        uri = start_tracing(args.trace, args.out or config.resolve(config.output), experiment=config.name)
        console.print(f"tracing every DSPy module call to MLflow at {uri} (see them: mlflow ui --backend-store-uri {uri})",
                      highlight=False, soft_wrap=True)
    summary = run_file(args.program, overrides, seeds_path=args.seeds, output=args.out, console=console, tuned=args.tuned,
                       extend=args.extend, executor=args.executor, poll_seconds=args.poll_seconds, address=args.address)
    _print_summary(summary)
    if (summary.get("quota") or {}).get("short"):  # N could not be reached: why, in one line (exit 0: the run finished)
        console.print(f"[yellow]records: {escape(summary['quota']['short'])}[/]", highlight=False, soft_wrap=True)
    if summary.get("stopped_by"):  # a cap (max_usd, ...) stopped it: one line, exit 3 (finished records are kept)
        console.print(f"[yellow]{escape(summary['status'])}[/]", highlight=False, soft_wrap=True)
        return 3
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    """Print each step's rendered instructions, so template edits can be checked before a run; or a tuned file's
    effective instructions and demos with a diff against the templates."""
    if args.program.endswith(".json"):
        from codeclm.optimize.show import show_tuned

        print(show_tuned(args.program, program=args.for_program, overrides=args.set, steps=args.steps))
        return 0
    from codeclm.models.config import load_config
    from codeclm.programs import build_program

    program = build_program(load_config(args.program, args.set))  # templates only: no model is opened
    for step, prompt in program.rendered.items():
        if args.steps and step not in args.steps:
            continue
        console.rule(f"{step}  ({prompt.path}, {len(prompt.demos)} demos, sha256 {prompt.sha256[:12]})")
        print(prompt.instructions)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from codeclm.local import DEFAULT_STRONG, DEFAULT_TARGET, serve_forever

    def ready(servers) -> None:
        for server in servers:
            console.print(f"[bold]{server.model}[/] at {server.api_base}  (log: {server.log_path})", highlight=False)
        console.print("`codeclm run` on this machine reuses these servers. Ctrl-C stops them.")

    serve_forever(args.models or [DEFAULT_STRONG, DEFAULT_TARGET], ready=ready, logprobs=args.logprobs)
    return 0


def _cmd_judge_check(args: argparse.Namespace) -> int:
    """Check the filter signal on items with a known right decision; exit 1 when the configured scheme fails."""
    from codeclm.models.config import load_config
    from codeclm.errors import ConfigError
    from codeclm.check.program import check_filter, record_report
    from codeclm.check.display import NOTE, table
    from codeclm.judging.schemes import SCHEMES
    from codeclm.programs.session import open_program
    from codeclm.console.tables import print_table

    overrides = list(args.set) + (["cache.enabled=false"] if args.no_cache else [])
    config = load_config(args.program, overrides)
    wanted = list(SCHEMES) if args.all else (args.scheme or [config.judging.scheme])
    unknown = [s for s in wanted if s not in SCHEMES]
    if unknown:
        raise ConfigError(f"--scheme {unknown[0]}: unknown judging scheme; choose from {', '.join(SCHEMES)}")
    with open_program(config) as session:
        reports = [check_filter(session, scheme=scheme, split=args.split) for scheme in wanted]
        if args.split == "check":
            for r in reports:  # `codeclm eval` judges only with a scheme and judge whose check passed; runs reuse it
                record_report(session, r)
    print_table(console, table(reports))
    for r in reports:
        unusable = f"; kept but unusable {r.kept_unusable}" if r.kept_unusable else ""
        console.print(f"{r.scheme}: {r.line()}; items: {r.source}{unusable}", highlight=False)
    console.print(NOTE, highlight=False)
    main = next((r for r in reports if r.scheme == config.judging.scheme), reports[0])
    return 0 if main.status in ("passed", "target_strong") else 1


def _cmd_judge_calibrate(args: argparse.Namespace) -> int:
    """Fit theta for the program's target and scheme on labelled dev items; record it beside the program."""
    from codeclm.models.config import load_config
    from codeclm.check.program import calibrate
    from codeclm.models.calibrations import calibrations_path, record_place
    from codeclm.programs.session import open_program

    overrides = list(args.set) + ([f"judging.check.items={os.path.abspath(args.items)}"] if args.items else [])
    config = load_config(args.program, overrides)
    with open_program(config) as session:
        found = calibrate(session)
    console.print(f"theta {found.theta:g} for {found.target} under {found.scheme}: on {found.dev_items} dev items keep "
                  f"{found.dev_by_decision['keep']}, send back {found.dev_by_decision['send_back']} right (balanced "
                  f"{found.dev_accuracy:.0%}), {found.fit_on}; recorded in {calibrations_path(record_place(config))}. Its figures on "
                  f"held-out items: `codeclm judge check {args.program}`", highlight=False)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    """CRR of a candidate against a reference on a benchmark (both orders, explicit rule)."""
    from codeclm.evaluation import evaluate
    from codeclm.evaluation.display import print_report

    report = evaluate(
        args.benchmark, args.candidate, args.reference, args.judge, program=args.program, overrides=args.set,
        limit=args.limit, field=args.field, input_field=args.input_field, category_field=args.category_field,
        rule=args.rule, out=args.out, seed=args.seed, bootstrap=args.bootstrap,
        api_base=args.api_base, api_key_env=args.api_key_env, scheme=args.scheme, unverified=args.unverified,
    )
    print_report(report, console)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    """Side-by-side dataset statistics with PNG plots."""
    from codeclm.publish.report import report

    result = report(args.data, args.out, plots=not args.no_plots, sample=args.sample, seed=args.seed, console=console)
    console.print(f"report: {result['text']}, {result['json']}" + (f", {result['plot']}" if result["plot"] else ""))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    """Alpaca / ShareGPT / OpenAI-chat files for fine-tuning tools, and the dataset card beside them."""
    from codeclm.publish.card import CardError
    from codeclm.publish.export import export, write_card

    written = export(args.data, args.format, args.out)
    console.print(f"wrote {written}", highlight=False)
    try:
        console.print(f"wrote {write_card(args.data, written)} (the dataset card)", highlight=False)
    except CardError as exc:
        console.print(f"no dataset card: {exc}", highlight=False, soft_wrap=True)
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    """An editable copy of a bundled program: its YAML and every template."""
    from codeclm.prompting.bundled import init

    program = init(args.folder, args.program)
    console.print(f"wrote {program} and its templates in {program.parent / 'prompts'}; edit them, then: "
                  f"codeclm run {program}", highlight=False, soft_wrap=True)
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    """The kept pairs as a Hugging Face dataset with a dataset card built from the run's manifest."""
    from codeclm.publish.hub import push

    url = push(args.data, args.repo_id, private=not args.public, dropped=args.dropped)
    console.print(f"pushed {args.data} to {url} ({'public' if args.public else 'private'})", highlight=False)
    return 0


def _cmd_optimize(args: argparse.Namespace) -> int:
    """Tune the generation steps for the target LLM against a benchmark; save the whole program."""
    from codeclm.optimize import optimize_file

    optimize_file(args.program, args.set, benchmark=args.benchmark, steps=args.steps, optimizer=args.optimizer,
                  split=args.split, train=args.train, heldout=args.heldout, demos=args.demos,
                  max_metric_calls=args.max_metric_calls, field_name=args.field, out=args.out, tuned=args.tuned,
                  console=console)
    return 0


def _cmd_view(args: argparse.Namespace) -> int:
    """A private local viewer of run outputs: served from 127.0.0.1, or one self-contained HTML file."""
    from codeclm.view import open_runs, serve_runs, write_html

    runs = open_runs(args.data, args.seeds)
    if args.html:
        console.print(f"wrote {write_html(runs, args.html, args.benchmark)}")
        return 0

    def ready(url: str, asked: int) -> None:
        taken = "" if url.endswith(f":{asked}/") else f" (port {asked} is in use)"
        console.print(f"codeclm view: {url}{taken}  (127.0.0.1 only; Ctrl-C stops)", highlight=False)
        if args.open:
            import webbrowser

            webbrowser.open(url)

    try:
        serve_runs(runs, args.port, ready, args.benchmark)
    except KeyboardInterrupt:  # the viewer only reads: nothing to resume
        console.print("codeclm view: stopped")
    return 0


def _print_summary(summary: dict) -> None:
    table = Table(title=f"codeclm run: {summary['program']}", show_header=False)
    table.add_row("kept records", str(summary["kept"]))
    for reason, count in summary["dropped_by_reason"].items():
        table.add_row(f"dropped ({reason})", str(count))
    table.add_row("kept by source", json.dumps(summary["kept_by_source"]))
    table.add_row("Self-Rubrics iteration", json.dumps(summary["iterations"]))
    if summary.get("quota"):
        from codeclm.plan import quota_rows

        for key, value in quota_rows(summary):
            table.add_row(key, value)
    for key, value in summary.get("extra_rows", {}).items():
        table.add_row(key, str(value))
    if summary.get("seeds", {}).get("split"):
        table.add_row("seeds", f"{summary['seeds']['path']} = {summary['seeds']['split']} split")
    if "benchmark_overlap" in summary:
        overlap = summary["benchmark_overlap"]
        found = ", ".join(f"{k} {v}" for k, v in overlap["by_split"].items())
        table.add_row("overlap with benchmark items", f"{overlap['overlapping']} of {overlap['checked']} kept instructions"
                      + (f" ({found})" if found else "") + " (8-word run or ROUGE-L > 0.7)")
    for role, usage in summary.get("usage", {}).get("roles", {}).items():
        cost = f", ${usage['cost']:.4f}" if usage.get("cost") is not None else ""
        batched = f" ({usage['batch_calls']} in batches)" if usage.get("batch_calls") else ""
        table.add_row(
            f"calls ({role})",
            f"{usage['calls']} calls{batched}, {usage['cache_hits']} cached, {usage['prompt_tokens']} tokens in / {usage['completion_tokens']} out{cost}",
        )
    if summary.get("calls_per_kept_record") is not None:
        check_calls = (summary.get("judge", {}).get("check") or {}).get("calls")
        table.add_row("calls per kept record", f"{summary['calls_per_kept_record']}"
                      + (f" (the filter check's {check_calls} calls apart)" if check_calls else ""))
    for role, counts in summary.get("answer_guards", {}).items():
        table.add_row(f"answer guards ({role})", ", ".join(f"{k} {v}" for k, v in counts.items()))

    table.add_row("wall time", f"{summary['wall_seconds']} s")
    table.add_row("output", summary["output"])
    console.print(table)


def build_parser() -> argparse.ArgumentParser:
    from codeclm.output.versions import version_line

    parser = OneLineParser(prog="codeclm", description="CodecLM synthetic instruction data as a DSPy program")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True)

    def program_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("program", help="program YAML, or a bundled program's name: codeclm, codeclm_vllm, "
                       "self_instruct, evol_instruct (codeclm init DIR writes an editable copy)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. num_metadata=10")
        return p

    p = program_command("run", "run a program and write its dataset")
    p.add_argument("--seeds", help="seeds file (overrides seeds.path)")
    p.add_argument("--out", help="output JSONL (overrides output)")
    p.add_argument("--tuned", help="tuned program JSON (codeclm optimize) whose prompts and demos replace the templates'")
    p.add_argument("--extend", action="store_true", help="add to an output made by a different program (other settings, "
                   "templates, seeds or models); items are matched by content")
    p.add_argument("--executor", choices=["threads", "batch", "ray"], default="threads",
                   help="threads: call each endpoint directly (default); batch: OpenAI Batch API / Anthropic Message "
                   "Batches at batch prices, slower (models.<role>.batch_api); ray: stages on a Ray cluster "
                   "(pip install 'codeclm[ray]'; docs/scale.md)")
    p.add_argument("--records", type=int_range(1), metavar="N", help="keep going in rounds until N records are kept (records: N; "
                   "docs/sizing.md)")
    p.add_argument("--trace", choices=["mlflow"], help="trace every DSPy module call (prompts, replies, tokens) into MLflow "
                   "via mlflow.dspy.autolog (pip install 'codeclm[trace]'; docs/viewer.md); off by default")
    p.add_argument("--poll-seconds", type=float_range(0, lo_open=True), default=30.0, help="--executor batch: seconds between batch status polls")
    p.add_argument("--address", help="--executor ray: the cluster to join: auto, ray://HOST:10001 "
                   "(default: $RAY_ADDRESS, else Ray on this machine)")
    p.set_defaults(func=_cmd_run)

    p = program_command("show", "print the rendered prompt of each step, or a tuned file's steps with a diff")
    p.add_argument("steps", nargs="*", help="steps to show (default: all)")
    p.add_argument("--program", dest="for_program", metavar="PROGRAM.yaml",
                   help="for a tuned JSON: the program it was tuned for (default: the one its header names)")
    p.set_defaults(func=_cmd_show)

    from codeclm.plan import add_plan_command

    add_plan_command(sub, program_command)

    p = sub.add_parser("serve", help="keep local model servers up so runs reuse them (Ctrl-C stops)")
    p.add_argument("models", nargs="*", help="local model names (default: the strong and target defaults)")
    p.add_argument("--logprobs", action="store_true", help="also return generation log-probabilities (for a local "
                   "logprob-pairwise / pointwise-logprob judge; slower)")
    p.set_defaults(func=_cmd_serve)

    judge = sub.add_parser("judge", help="judge tools").add_subparsers(dest="judge_command", required=True)
    p = judge.add_parser("check", help="check the filter signal on items whose right decision is known")
    p.add_argument("program", help="program YAML or a bundled program's name, e.g. codeclm")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    p.add_argument("--scheme", action="append", default=[], help="scheme to check (repeatable; default: the configured one)")
    p.add_argument("--all", action="store_true", help="check every scheme")
    p.add_argument("--no-cache", action="store_true", help="make every call again (the call cache is off)")
    p.add_argument("--split", choices=["check", "dev", "all"], default="check",
                   help="bundled items: the held-out check split (default), the dev split theta was chosen on, or all")
    p.set_defaults(func=_cmd_judge_check)
    p = judge.add_parser("calibrate", help="fit theta for the program's target and scheme on labelled dev items")
    p.add_argument("program", help="program YAML; the fitted theta is recorded in calibrations.json beside it")
    p.add_argument("--items", help="your own labelled items (JSONL: id, instruction, strong {text, finish_reason}, "
                   "target {text}, label keep|send_back|invalid|bad_answer, split dev|check); only split dev is fit on")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    p.set_defaults(func=_cmd_judge_calibrate)
    p = sub.add_parser("eval", help="Capacity Recovery Ratio of a candidate against a reference on a benchmark")
    p.add_argument("--benchmark", required=True, help="vicuna, self_instruct (their test split; NAME:all or NAME:seed for "
                   "others), or a JSONL/JSON/CSV file")
    p.add_argument("--candidate", required=True, help="strong/target/judge (roles of --program), local:NAME or a model id")
    p.add_argument("--reference", default="strong", help="the model the candidate is compared with (default: strong)")
    p.add_argument("--judge", default="judge", help="the judging model (default: the program's judge, else strong)")
    p.add_argument("--program", default="codeclm", help="program YAML or bundled name: roles, prompts, sampling "
                   "(default: the bundled codeclm)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a program setting")
    p.add_argument("--limit", type=positive_int, help="first N benchmark instructions only")
    p.add_argument("--field", help="instruction field of a benchmark file (default: the set's, else 'instruction')")
    p.add_argument("--input-field", help="optional field appended to the instruction (dotted path, e.g. instances.0.input)")
    p.add_argument("--category-field", help="category field for the per-category table (default: 'category')")
    p.add_argument("--rule", choices=["paper", "alpagasus"], help="both-orders rule (default paper; a pointwise scheme has "
                   "none and refuses this option; see docs/evaluation.md)")
    p.add_argument("--scheme", help="judging scheme (default: the program's if it compares answers, else pointwise-logprob)")
    p.add_argument("--unverified", action="store_true", help="judge even though the judge has no passed `codeclm judge "
                   "check` for this scheme; the figure is labelled unverified")
    p.add_argument("--out", help="per-item judgments JSONL (default: data/eval/<benchmark>__<candidate>__vs__<reference>.jsonl)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed")
    p.add_argument("--bootstrap", type=int_range(100), default=1000, help="bootstrap resamples for the CI")
    p.add_argument("--api-base", help="endpoint for model ids given to --candidate/--reference/--judge")
    p.add_argument("--api-key-env", help="NAME of the environment variable holding that endpoint's key")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("report", help="dataset statistics side by side, with PNG plots")
    p.add_argument("data", nargs="+", help="dataset JSONL files (codeclm run output)")
    p.add_argument("--out", help="output folder (default: <first data>.report/)")
    p.add_argument("--sample", type=int_range(2), default=100, help="instructions sampled for mean pairwise ROUGE-L")
    p.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed")
    p.add_argument("--no-plots", action="store_true", help="text and JSON only (no matplotlib needed)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("export", help="write a dataset as Alpaca, ShareGPT or OpenAI-chat for fine-tuning tools")
    p.add_argument("data", help="dataset JSONL (codeclm run output)")
    p.add_argument("--format", required=True, choices=["alpaca", "sharegpt", "openai-chat"])
    p.add_argument("--out", help="output file (default: next to the data)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("view", help="look at run outputs in a browser: items, their stories, coverage, runs side by side "
                       "(served from 127.0.0.1 only; docs/viewer.md)")
    p.add_argument("data", nargs="+", help="run output JSONL files (their .dropped.jsonl and manifest are read beside them)")
    p.add_argument("--html", metavar="FILE", help="write one self-contained HTML file instead of serving")
    p.add_argument("--port", type=int_range(1, 65535), default=8765, help="port on 127.0.0.1 (default 8765; the next free one if taken)")
    p.add_argument("--seeds", action="append", default=[], metavar="FILE", help="seeds file of each output, in order "
                   "(default: the one its manifest names)")
    p.add_argument("--benchmark", metavar="FILE", help="JSONL of a benchmark's metadata (rows with use_case and skills, "
                   "e.g. a codeclm output run on it) for the coverage view")
    p.add_argument("--open", action="store_true", help="open the page in this machine's browser")
    p.set_defaults(func=_cmd_view)

    p = sub.add_parser("init", help="write an editable copy of a bundled program (YAML + templates) into a folder")
    p.add_argument("folder", help="where to write <program>.yaml and prompts/ (created; existing files are never overwritten)")
    p.add_argument("--program", default="codeclm", help="the bundled program to copy (default: codeclm)")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("push", help="upload a run's kept pairs as a Hugging Face dataset with a dataset card (HF_TOKEN)")
    p.add_argument("data", help="dataset JSONL written by codeclm run (its manifest beside it)")
    p.add_argument("repo_id", help="the dataset repo, NAMESPACE/NAME")
    visibility = p.add_mutually_exclusive_group()
    visibility.add_argument("--private", action="store_true", default=True, help="a private repo (default)")
    visibility.add_argument("--public", action="store_true", help="a public repo")
    p.add_argument("--dropped", action="store_true", help="also upload the dropped items (config 'dropped')")
    p.set_defaults(func=_cmd_push)

    p = program_command("optimize", "tune the generation steps for the target LLM against a benchmark (docs/optimize.md)")
    p.add_argument("--benchmark", help="instructions the target will be judged on: vicuna, self_instruct, or a "
                   "JSONL/JSON/CSV file (default: optimize.benchmark)")
    p.add_argument("--split", type=float_range(0, 1, lo_open=True, hi_open=True), help="share of the benchmark in the optimization "
                   "part; the rest is held out for the before/after figures (default: the program's optimize.split; 0.5 where it sets none)")
    p.add_argument("--optimizer", choices=["bootstrap", "mipro", "gepa"],
                   help="BootstrapFewShot, MIPROv2(auto='light') or GEPA (default: optimize.optimizer, bootstrap)")
    p.add_argument("--steps", help="comma-separated steps tuned jointly: decode, rubrics, improve (default: decode)")
    p.add_argument("--train", type=positive_int, help="training metadata the optimizer sees (default: the "
                   "program's optimize.train; 8 where it sets none)")
    p.add_argument("--heldout", type=positive_int, help="held-out instructions for the before/after "
                   "figures (default: the program's optimize.heldout; 6 where it sets none)")
    p.add_argument("--demos", type=non_negative_int, help="max bootstrapped demos per step (bootstrap, mipro; "
                   "default: the program's optimize.demos; 3 where it sets none)")
    p.add_argument("--max-metric-calls", type=positive_int, help="GEPA's budget in metric calls (default: the "
                   "program's optimize.gepa_max_metric_calls; 24 where it sets none)")
    p.add_argument("--field", help="instruction field of a benchmark file (default: the set's, else 'instruction')")
    p.add_argument("--tuned", help="start from this tuned program JSON")
    p.add_argument("--out", help="tuned program JSON (default: <program dir>/<name>.tuned.json); a .report.json goes beside it")
    p.set_defaults(func=_cmd_optimize)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # bad arguments (one line, exit 2), --help
        return exc.code if isinstance(exc.code, int) else 2
    gc.freeze()  # dspy + litellm leave ~1e6 long-lived objects: full collections stop scanning them (docs/speed.md)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # DSPy warns on every capped reply; the judges' 3-token caps are deliberate
        logging.getLogger("dspy.clients.lm").setLevel(logging.ERROR)
    try:
        return args.func(args)
    except CodecLMError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # "[local]" is text
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished records are kept; rerun the same command to resume", soft_wrap=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
