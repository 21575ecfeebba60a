"""Mutation check: break each behaviour README promises with a one-line change in a throwaway copy of the
repository, run the tests that should notice, and count how many do.

A small script rather than mutmut: each mutation here is chosen by hand to break one promise (mutmut mutates every
operator of a file and would need scoping to these lines anyway), and the script needs nothing installed.

    python benchmarks/mutations.py                     # all; writes benchmarks/results/mutations_<date>.{txt,json}
    python benchmarks/mutations.py --only overlap-8-words guard-cut-off
    python benchmarks/mutations.py --resume benchmarks/results/mutations_<date>.json   # skip the ids already there

The working tree (tracked and untracked, not ignored files) is copied once to a temporary folder; each mutation is
applied there (its `old` text must occur exactly once), the targeted tests run with that copy first on the path,
and the file is put back. The unmutated copy must pass the same tests first, or the figure would mean nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    id: str
    promise: str  # what README promises (its words, shortened)
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = [
    Mutation("cache-key-temperature", "every LLM call is cached, keyed on endpoint, model, messages and sampling parameters",
             "codeclm/engine/keys.py",
             "sampling = {k: v for k, v in params.items() if k not in CLIENT_KEYS and v is not None}",
             "sampling = {k: v for k, v in params.items() if k not in CLIENT_KEYS and k != 'temperature' and v is not None}",
             ("tests/engine/test_engine_keys.py",)),
    Mutation("resume-forgets-done", "kill it and rerun: finished records are kept, nothing is duplicated",
             "codeclm/run.py", "sink=sink, done=state.done_ids, prior=state)", "sink=sink, done=set(), prior=state)",
             ("tests/test_run_ids.py", "tests/test_run_resume.py")),
    Mutation("guard-cut-off", "answer guards: finish_reason \"length\" (cut off)",
             "codeclm/steps/guards.py", 'if finish_reason == "length":', 'if finish_reason == "never":',
             ("tests/test_guards.py", "tests/evaluation/test_eval_guards.py")),
    Mutation("cut-asked-again-twice-the-cap", "a strong answer cut off is asked once more with twice the cap",
             "codeclm/steps/respond.py", 'lm_config={"max_tokens": 2 * cap})', 'lm_config={"max_tokens": cap})',
             ("tests/test_guards.py", "tests/evaluation/test_eval_guards.py")),
    Mutation("guard-refusal", "answer guards: refusal",
             "codeclm/steps/guards.py",
             "if (len(stripped.split()) <= REFUSAL_MAX_WORDS and _REFUSAL.match(stripped)) or _DISCLAIMER.match(stripped):",
             "if False:", ("tests/test_guards.py", "tests/evaluation/test_eval_guards.py")),
    Mutation("guard-repetition", "answer guards: degenerate repetition",
             "codeclm/steps/guards.py", "    if repetitive(stripped):", "    if False:",
             ("tests/test_guards.py", "tests/evaluation/test_eval_guards.py")),
    Mutation("filter-gap-above-theta", "hard (gap > theta): keep the pair; too easy (gap <= theta): improve",
             "codeclm/steps/contrast.py", "    if gap > theta:", "    if gap >= theta:",
             ("tests/steps/test_contrast.py",)),
    Mutation("eval-guards", "answer guards run on every answer before any judging, in the filter, the check and eval",
             "codeclm/evaluation/harness.py", "if not answer.usable:", "if False:",
             ("tests/evaluation/test_eval_guards.py", "tests/evaluation/test_eval_cassette.py")),
    Mutation("eval-failed-is-loss", "eval: every item counts; one nobody could judge is a loss for the candidate",
             "codeclm/evaluation/harness.py", '"order_outcomes": [], "outcome": "loss"})',
             '"order_outcomes": [], "outcome": "tie"})', ("tests/evaluation/test_eval_harness.py",)),
    Mutation("eval-rule", "eval --rule paper|alpagasus: the both-orders rule applied per item",
             "codeclm/evaluation/rules.py", "return RULES[rule][pair]", 'return RULES["alpagasus"][pair]',
             ("tests/evaluation/test_eval_rules.py", "tests/evaluation/test_eval_harness.py")),
    Mutation("overlap-8-words", "overlap with benchmark items: an 8-word run",
             "codeclm/evaluation/overlap.py", "NGRAM, ROUGE_THRESHOLD, SEED_NGRAM = 8, 0.7, 3", "NGRAM, ROUGE_THRESHOLD, SEED_NGRAM = 9, 0.7, 3",
             ("tests/test_overlap.py",)),
    Mutation("overlap-7-words", "overlap with benchmark items: an 8-word run (not 7)",
             "codeclm/evaluation/overlap.py", "NGRAM, ROUGE_THRESHOLD, SEED_NGRAM = 8, 0.7, 3", "NGRAM, ROUGE_THRESHOLD, SEED_NGRAM = 7, 0.7, 3",
             ("tests/test_overlap.py",)),
    Mutation("overlap-rouge-0.7", "overlap with benchmark items: or ROUGE-L > 0.7",
             "codeclm/evaluation/overlap.py", "NGRAM, ROUGE_THRESHOLD, SEED_NGRAM = 8, 0.7, 3", "NGRAM, ROUGE_THRESHOLD, SEED_NGRAM = 8, 0.9, 3",
             ("tests/test_overlap.py",)),
    Mutation("templates-strict", "templates render with StrictUndefined (a typo is an error naming the file and line)",
             "codeclm/prompting/templates.py", "undefined=jinja2.StrictUndefined,", "undefined=jinja2.Undefined,",
             ("tests/test_templates.py",)),
    Mutation("templates-sandboxed", "templates render in a sandboxed Jinja environment",
             "codeclm/prompting/templates.py", "self._env = SandboxedEnvironment(", "self._env = jinja2.Environment(",
             ("tests/test_templates.py",)),
    Mutation("keys-scrubbed", "keys never reach logs, outputs or cassettes",
             "codeclm/engine/keys.py", '            text = text.replace(secret, "***")', "            text = text",
             ("tests/engine/test_engine_lm.py", "tests/engine/test_engine_errors.py", "tests/test_run_faults.py")),
    Mutation("seed-split-fifth-row", "benchmark:NAME takes its 20% seed split (every fifth row); eval scores the other 80%",
             "codeclm/seeds/splits.py", "(row % SEED_EVERY == 0) == (self.split == \"seed\")",
             "(row % SEED_EVERY == 1) == (self.split == \"seed\")",
             ("tests/evaluation/test_eval_seeds.py", "tests/test_seeds.py")),
    Mutation("check-wilson-bound", "the filter check passes only with a Wilson 95% lower bound above 0.5",
             "codeclm/check/grading.py", 'lacking += [f"95% lower bound {low:.2f} <= 0.5"] if low <= 0.5 else []',
             "lacking += []", ("tests/judging/test_check.py",)),
    Mutation("check-half-per-decision", "the filter check needs at least half right for each decision",
             "codeclm/check/grading.py", "for d, a in per_accuracy.items() if a < 0.5]",
             "for d, a in per_accuracy.items() if a < 0.0]", ("tests/judging/test_check.py",)),
    Mutation("content-ids", "id: a content id, stable across reruns",
             "codeclm/output/records.py", 'digest = hashlib.sha256("\\x1f".join(parts).encode("utf-8")).hexdigest()',
             'digest = __import__("uuid").uuid4().hex', ("tests/test_run_ids.py",)),
    Mutation("seed-test-item-refused", "a seed that is also a test item is refused",
             "codeclm/evaluation/leakage.py",
             "if source.split is not None and seeds is not None and seeds.overlaps(source.split):", "if False:",
             ("tests/evaluation/test_eval_seeds.py",)),
    Mutation("export-alpaca", "codeclm export --format alpaca",
             "codeclm/publish/export.py", '"alpaca": lambda r: {"id": r.get("id"), "instruction": r["instruction"], "input": "", "output": r["response"]},',
             '"alpaca": lambda r: {"id": r.get("id"), "instruction": r["instruction"], "input": "", "output": r["instruction"]},',
             ("tests/test_export.py",)),
    Mutation("optimize-leak-zero", "optimize: an instruction that copies a held-out or test item scores 0 and is flagged",
             "codeclm/optimize/metric.py", "        if result.leak is not None:\n            self._flag(result, example)",
             "        if False:\n            self._flag(result, example)",
             ("tests/optimize/test_optimize_split.py", "tests/optimize/test_optimize_metric.py")),
    Mutation("optimize-cut-gap-zero", "optimize metric: the filter's gap, 0 when the strong answer is cut off",
             "codeclm/optimize/metric.py", "if contrast.guard is not None or contrast.error is not None:",
             "if contrast.error is not None:",
             ("tests/optimize/test_optimize_metric.py", "tests/optimize/test_optimize_cassette.py")),
    Mutation("retries", "per endpoint max_tries, backoff: a run against a misbehaving server completes, loses nothing",
             "codeclm/engine/retry.py", "if self.max_tries == 1 or not is_retryable(exc):", "if True:",
             ("tests/engine/test_engine_retry.py", "tests/test_run_faults.py")),
    Mutation("batch-deferral", "--executor batch: calls go to the provider's batch API, not the endpoint directly",
             "codeclm/engine/collect.py", "    collector.add(request)\n    raise DeferredCall(request)",
             "    collector.add(request)\n    return None", ("tests/engine/test_engine_collect.py",)),
    Mutation("cli-bootstrap-range", "bad input gets one line naming the field and a fix, exit 2 (eval --bootstrap 0)",
             "codeclm/cli.py", 'p.add_argument("--bootstrap", type=int_range(100),', 'p.add_argument("--bootstrap", type=int,',
             ("tests/test_cli_ranges.py",)),
    Mutation("report-sample", "codeclm report: diversity (mean pairwise ROUGE-L over a seeded sample)",
             "codeclm/cli.py", "plots=not args.no_plots, sample=args.sample,", "plots=not args.no_plots, sample=100,",
             ("tests/test_report.py",)),
]


def workspace() -> Path:
    """A copy of the working tree (tracked and untracked files git does not ignore)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    copy = Path(tempfile.mkdtemp(prefix="codeclm-mutations-"))
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | str, float, str]:
    env = {**os.environ, "PYTHONPATH": str(copy), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests], cwd=copy,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, ""
    tail = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))][:3]
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return done.returncode, time.monotonic() - started, "; ".join(tail) or last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="mutation ids to run (default: all)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per test run")
    parser.add_argument("--resume", help="a results .json of an earlier run of the same tree: its mutations are kept, "
                        "not run again")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run (only right after one "
                        "passed on the same tree; the results file says it was skipped)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / f"mutations_{dt.date.today()}"),
                        help="results file stem (.txt and .json are written)")
    args = parser.parse_args()
    previous = json.loads(Path(args.resume).read_text()) if args.resume else {}
    earlier = [r for r in previous.get("results", []) if r["rc"] != "timeout"]  # a timeout is run again
    done = {r["id"] for r in earlier}
    chosen = [m for m in MUTATIONS if (not args.only or m.id in args.only) and m.id not in done]
    copy = workspace()
    where = subprocess.run([sys.executable, "-c", "import codeclm; print(codeclm.__file__)"], cwd=copy, capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(copy)}).stdout.strip()
    assert where.startswith(str(copy)), f"the copy is not the code under test: {where}"
    results = list(earlier)
    try:
        baseline_tests = tuple(sorted({t for m in chosen for t in m.tests}))
        if args.no_baseline:
            rc, baseline = 0, previous.get("baseline", "baseline skipped (--no-baseline)")
        else:
            rc, seconds, detail = run_tests(copy, baseline_tests, args.timeout * 2)
            baseline = f"baseline (unmutated, {len(baseline_tests)} test files): rc {rc} in {seconds:.0f} s {detail}"
        print(baseline, flush=True)
        if rc != 0:
            print("the unmutated copy fails its tests: fix that first", file=sys.stderr)
            return 1
        for m in chosen:
            path = copy / m.path
            original = path.read_text(encoding="utf-8")
            assert original.count(m.old) == 1, f"{m.id}: the text to change occurs {original.count(m.old)} times in {m.path}"
            path.write_text(original.replace(m.old, m.new), encoding="utf-8")
            try:
                rc, seconds, detail = run_tests(copy, m.tests, args.timeout)
            finally:
                path.write_text(original, encoding="utf-8")
            caught = isinstance(rc, int) and rc != 0  # a timeout proves nothing either way
            results.append({**asdict(m), "rc": rc, "caught": caught, "seconds": round(seconds, 1), "detail": detail})
            print(f"{status(rc)} {m.id:32} rc {rc} {seconds:5.0f} s  {detail[:150]}", flush=True)
            write(args.out, results, baseline)  # after each: a run cut short keeps what it found
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    print(write(args.out, results, baseline))
    return 0 if all(r["caught"] for r in results) else 1


def status(rc: int | str) -> str:
    return "TIMEOUT " if rc == "timeout" else "caught  " if rc != 0 else "SURVIVED"


def write(out: str, results: list[dict], baseline: str) -> str:
    caught = sum(r["caught"] for r in results)
    timeouts = sum(r["rc"] == "timeout" for r in results)
    head = (f"mutations: {caught} of {len(results)} caught, {timeouts} timed out (of {len(MUTATIONS)} defined; "
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()}-core machine, "
            f"python {sys.version.split()[0]}; benchmarks/mutations.py)")
    lines = [head, baseline, ""] + [f"{status(r['rc'])} {r['id']:32} {r['path']}: {r['promise']}\n"
                          f"         tests: {' '.join(r['tests'])}\n         result: rc {r['rc']}, {r['detail'][:300]}"
                          for r in results]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out + ".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    Path(out + ".json").write_text(json.dumps({"summary": head, "baseline": baseline, "results": results}, indent=1) + "\n",
                                   encoding="utf-8")
    return head


if __name__ == "__main__":
    sys.exit(main())
