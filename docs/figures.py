"""Figures in README.md and docs/*.md, generated from their sources so they cannot drift.

    python docs/figures.py           # rewrite every generated block from its source
    python docs/figures.py --check   # exit 1 naming each block that differs (tests/test_docs_figures.py runs this)

A generated block sits between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->`; what lies between
is replaced by SOURCES[NAME](), nothing else in the file is touched. Sources:

- the filter check of the local default: replayed from its committed cassette
  (cassettes/test_check_cassette/, the same requests as tests/judging/test_check_cassette.py), so
  re-recording that cassette and running this script updates every place that quotes it;
- optimize's defaults: codeclm.models.config.OptimizeSettings and the bundled programs/codeclm.yaml;
- the main job's timings: benchmarks/results/main_job.json (what each machine measured, and who measured it);
- README's command table: the `codeclm` argument parser itself;
- the labelled filter set and every signal on it: benchmarks/filter_set/labels.jsonl, agreement.json, table.json;
- the near-duplicate check's cost at 1,000 to 100,000 instructions: benchmarks/results/dedup_scale_2026-12-07.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)([ \t]*<!-- /figures:(?P=name) -->)", re.S)
CHECK_CASSETTE = ROOT / "cassettes" / "test_check_cassette" / "test_the_local_defaults_check_replays_on_the_labelled_split.yaml"
CHECK_TARGET = "qwen2.5-coder-0.5b-instruct"
CHECK_STRONG = "qwen2.5-coder-1.5b-instruct"  # made the labelled set's strong answers
FILTER_SET = ROOT / "benchmarks" / "filter_set"
MAIN_JOB = ROOT / "benchmarks" / "results" / "main_job.json"
DEDUP_SCALE = ROOT / "benchmarks" / "results" / "dedup_scale_2026-12-07.json"


def check_settings(api_base: str, cache_path: Path) -> list[str]:
    """The settings the check cassette was recorded with (tests/judging/test_check_cassette.py uses them too): the
    local default's target, served at `api_base`, at the theta calibrated for it (programs/calibrations.json)."""
    from codeclm.models.calibrations import find

    target = f"{{model: {CHECK_TARGET}, api_base: '{api_base}', max_tries: 1, chat_template: chatml}}"
    strong = f"{{model: {CHECK_STRONG}, api_base: '{api_base}', max_tries: 1}}"  # never asked: the labelled items carry its answers
    theta = find(ROOT / "programs", f"local:{CHECK_TARGET}", "target-loss").theta
    return [f"models.target={target}", f"models.strong={strong}", f"cache.path={cache_path}", f"theta={theta}"]


@cache
def filter_check():
    """The local default's filter check, replayed offline from its cassette: a codeclm CheckReport."""
    import tempfile

    import vcr

    from codeclm.models.config import load_config
    from codeclm.check.program import check_filter
    from codeclm.programs.session import open_program

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(ROOT / "programs" / "codeclm.yaml", check_settings("http://127.0.0.1:9/v1", Path(tmp) / "c.sqlite"))
        recorder = vcr.VCR(record_mode="none", match_on=["method", "path", "body"], decode_compressed_response=True)
        with recorder.use_cassette(str(CHECK_CASSETTE)), open_program(config) as session:
            return check_filter(session)


def check_line() -> str:
    r = filter_check()
    return (f"The filter check on the local default: {r.line()} (n = {r.items} held-out keep / send-back items; "
            f"[docs/judging.md](docs/judging.md)).\n")


def check_table() -> str:
    r = filter_check()
    keep, back = r.by_decision["keep"], r.by_decision["send_back"]
    base = (f"{r.baseline['rule']}: {r.baseline['check_accuracy']:.0%} (difference {r.baseline['difference_ci'][0]:+.0%} to "
            f"{r.baseline['difference_ci'][1]:+.0%})") if r.baseline else "-"
    guards = ", ".join(f"{k} {v}" for k, v in r.guards.items())
    return ("| scheme | theta | right at theta (95% CI) | keep right | send back right | balanced | best trivial rule, balanced | "
            "guards | kept but unusable | result |\n|---|---|---|---|---|---|---|---|---|---|\n"
            f"| `{r.scheme}` | {r.theta:g} | {r.correct}/{r.items} = {r.accuracy:.0%} ({r.ci_low:.0%}-{r.ci_high:.0%}) "
            f"| {keep} | {back} | {r.balanced_accuracy:.0%} | {base} | {guards} | {r.kept_unusable} | {r.verdict} |\n")


def filter_set_labels() -> str:
    """The labelled set's counts per split and label, and the two readers' agreement."""
    import json
    from collections import Counter

    rows = [json.loads(line) for line in (FILTER_SET / "labels.jsonl").read_text().splitlines() if line.strip()]
    agreement = json.loads((FILTER_SET / "agreement.json").read_text())
    counts = Counter((r["split"], r["label"]) for r in rows)
    lines = ["| split | items | invalid | bad answer | keep | send back |", "|---|---|---|---|---|---|"]
    for split in ("dev", "check"):
        n = sum(v for (s, _), v in counts.items() if s == split)
        lines.append(f"| {split} | {n} | " + " | ".join(str(counts[(split, k)]) for k in ("invalid", "bad_answer", "keep", "send_back")) + " |")
    adjudicated = sum(r["decided"] == "adjudicated" for r in rows)
    return ("\n".join(lines) + f"\n\nTwo blind passes agreed on {agreement['agree']} of {agreement['items']} items: Cohen's kappa "
            f"{agreement['kappa']:.2f} (bootstrap 95% CI {agreement['kappa_ci'][0]:.2f}-{agreement['kappa_ci'][1]:.2f}) on the four "
            f"labels, {agreement['decision_kappa']:.2f} ({agreement['decision_kappa_ci'][0]:.2f}-{agreement['decision_kappa_ci'][1]:.2f}) "
            f"on keep / send back where both read a decision (n = {agreement['decision_items']}); {adjudicated} disagreements "
            f"adjudicated.\n")


def filter_signals_table() -> str:
    """benchmarks/filter_set/table.json: every signal and trivial rule on the frozen check split."""
    import json

    data = json.loads((FILTER_SET / "table.json").read_text())
    lines = [f"Check split: {data['check_items']} keep / send-back items ({data['check_labels']}); dev: {data['dev_items']}; "
             f"{data['machine']}, {data['date']}. Balanced = mean of keep and send-back accuracy; the last column is the "
             f"paired bootstrap 95% interval of the balanced-accuracy difference to the best trivial rule on dev "
             f"({data['best_trivial']}).", "",
             "| signal | kind | rule (fit on dev) | check accuracy (95% CI) | keep right | send back right | balanced | AUC | vs best trivial |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        rule = f"keep if {r['direction']} {r['threshold']:.3g}" if r["threshold"] is not None else "-"
        lines.append(f"| {r['signal']} | {'trivial' if r['trivial'] else 'model'} | {rule} | {r['check_right']}/{r['check_n']} = "
                     f"{r['check_accuracy']:.0%} ({r['ci'][0]:.0%}-{r['ci'][1]:.0%}) | {r['keep_right']} | {r['send_back_right']} | "
                     f"{r['balanced']:.0%} | {r['check_auc']:.2f} | {r['vs_best_trivial'][0]:+.2f} to {r['vs_best_trivial'][1]:+.2f} |")
    return "\n".join(lines) + "\n"


def optimize_defaults() -> str:
    """optimize's settings: codeclm's default where a program sets none, and what the bundled program sets."""
    import yaml

    from codeclm.models.config import OptimizeSettings

    shipped = yaml.safe_load((ROOT / "programs" / "codeclm.yaml").read_text())["optimize"]
    flags = {"benchmark": "--benchmark", "split": "--split", "optimizer": "--optimizer", "steps": "--steps", "train": "--train",
             "heldout": "--heldout", "demos": "--demos", "gepa_max_metric_calls": "--max-metric-calls"}
    rows = ["| flag | YAML `optimize:` key | default (a program that sets none) | `programs/codeclm.yaml` sets |",
            "|---|---|---|---|"]
    for key, field in OptimizeSettings.model_fields.items():
        if key in ("weights", "protect"):
            continue
        default = field.default if not isinstance(field.default, list) else ", ".join(map(str, field.default))
        mine = shipped.get(key, "")
        mine = ", ".join(map(str, mine)) if isinstance(mine, list) else mine
        rows.append(f"| {('`' + flags[key] + '`') if key in flags else ''} | `{key}` | {default if default is not None else '(none)'} "
                    f"| {mine} |")
    return "\n".join(rows) + "\n"


@cache
def main_job() -> dict:
    return json.loads(MAIN_JOB.read_text())


def main_job_line() -> str:
    runs = main_job()["runs"]
    seconds = [s for run in runs for s in run["fresh_cache_seconds"]]
    return (f"On 2 CPU cores the main job takes {min(seconds) / 60:.0f}-{max(seconds) / 60:.0f} min on a fresh cache "
            f"({min(seconds)}-{max(seconds)} s in {len(seconds)} runs on {len(runs)} machines; "
            f"[docs/speed.md](docs/speed.md#the-main-job-on-2-cpu-cores)).\n")


def main_job_table() -> str:
    rows = ["| machine | measured by | date | command | wall time, fresh cache | model speed |", "|---|---|---|---|---|---|"]
    for run in main_job()["runs"]:
        speed = run.get("strong_model_tokens_per_second")
        speed = (f"strong model {speed['prompt']} prompt / {speed['generated']} generated tokens/s ({speed['how']})"
                 if speed else "")
        kept = f"; kept {' / '.join(map(str, run['kept']))}" if run.get("kept") else ""
        rows.append(f"| {run['machine']} | {run['who']} | {run['date']} | `{run['command']}` | "
                    f"{' / '.join(f'{s} s' for s in run['fresh_cache_seconds'])}{kept} | {speed} |")
    return "\n".join(rows) + "\n"


def commands() -> str:
    """README's command table, from the parser itself: every command with every flag `--help` lists."""
    import argparse

    from codeclm.cli import build_parser

    def rows(parser: argparse.ArgumentParser) -> list[str]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                    if nested:
                        found += rows(sub)
                        continue
                    usage = " ".join(sub.format_usage().split()).removeprefix("usage: ").replace("[-h] ", "")
                    found.append(f"| `{usage.replace('|', chr(92) + '|')}` | {helps.get(name, '')} |")
        return found

    lines = ["| command | what it does |", "|---|---|", "| `codeclm --version` | codeclm's version with dspy's and "
             "llama-cpp-python's |"]
    return "\n".join(lines + rows(build_parser())) + "\n"


def dedup_scale() -> str:
    """benchmarks/dedup_scale.py's results: MinHash LSH per size, ROUGE-L on small pools and its extrapolation."""
    data = json.loads(DEDUP_SCALE.read_text())
    rows = ["| instructions | wall / CPU s | CPU us each, first / last 10% | peak RSS MB (before the index) | peak Python memory MB "
            "| planted near-duplicates found | copies found (all) | originals dropped |", "|---|---|---|---|---|---|---|---|"]
    for m in data["minhash"]:
        rows.append(f"| {m['n']:,} | {m['seconds']} / {m['cpu_seconds']} | {m['cpu_us_per_instruction_first_10pct']:.0f} / "
                    f"{m['cpu_us_per_instruction_last_10pct']:.0f} | {m['peak_rss_mb']:.0f} ({m['rss_before_index_mb']:.0f}) | "
                    f"{m['peak_python_memory_mb']:.0f} | {m['planted_found']:,} of {m['planted']:,} | {m['copies_found']:,} of "
                    f"{m['copies']:,} | {m['other_drops']} |")
    rouge = "; ".join(f"{r['n']:,} instructions {r['cpu_seconds']} s CPU (copies found {r['copies_found']} of {r['copies']})"
                      for r in data["rouge_l"])
    far, largest = data["rouge_l_extrapolated_cpu_seconds"], data["minhash"][-1]
    per_item = largest["peak_python_memory_mb"] * 1024 / largest["indexed"]
    return ("\n".join(rows) + f"\n\nAt {largest['n']:,} the index holds about {per_item:.0f} KB of Python memory per "
            f"instruction (sketch and 3-grams); LSH missed {largest['planted'] - largest['planted_found']} of "
            f"{largest['planted']:,} planted near-duplicates. Wall times are stretched by the shared machine's load; CPU "
            f"seconds are the steadier figure. Synthetic instructions (15-30 words from 5,000, seeded; every 20th a copy of an earlier "
            f"one with 1-2 words replaced; a copy is a planted near-duplicate when its exact 3-gram Jaccard is >= 0.7, the "
            f"rule's threshold; the rest are copies the rule does not call near-duplicates). ROUGE-L > 0.7 against the pool "
            f"(Self-Instruct's rule): {rouge}; extrapolated (quadratic) to {far['n']:,}: ~{far['cpu_seconds'] / 3600:.0f} h CPU. "
            f"Measured {data['date']} on this project's VM ({data['machine']}), {data['note']} (1-min load average "
            f"{', '.join(str(m['load_average_1min_before']) for m in data['minhash'])} before each size), datasketch "
            f"{data['datasketch']}: `python -u benchmarks/dedup_scale.py --save {DEDUP_SCALE.relative_to(ROOT)}`.\n")


SOURCES: dict[str, Callable[[], str]] = {
    "filter-check-line": check_line,
    "filter-check-table": check_table,
    "optimize-defaults": optimize_defaults,
    "main-job-line": main_job_line,
    "main-job-table": main_job_table,
    "commands": commands,
    "filter-set-labels": filter_set_labels,
    "filter-signals-table": filter_signals_table,
    "dedup-scale": dedup_scale,
}


def render(text: str) -> str:
    """`text` with every generated block rewritten from its source; an unknown block name is an error."""
    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in SOURCES:
            raise KeyError(f"figures:{name}: no such source; known: {', '.join(SOURCES)}")
        return match.group(1) + SOURCES[name]() + match.group(4)

    return BLOCK.sub(replace, text)


def stale(files: list[Path] = FILES) -> list[str]:
    """'file: figures:NAME' for each block whose text differs from what its source gives now."""
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh != text:
            now = {m["name"]: m["body"] for m in BLOCK.finditer(fresh)}
            found += [f"{path.relative_to(ROOT)}: figures:{m['name']}" for m in BLOCK.finditer(text) if now.get(m["name"]) != m["body"]]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 naming each stale block")
    args = parser.parse_args()
    if args.check:
        found = stale()
        for line in found:
            print(f"stale: {line} (run python docs/figures.py)")
        return 1 if found else 0
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        if (fresh := render(text)) != text:
            path.write_text(fresh, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
