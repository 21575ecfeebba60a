"""`codeclm optimize`: tune the generation steps against a benchmark, report held-out figures, save the program.

1. The benchmark's instructions are split (codeclm.optimize.split); the optimization part is
   encoded into training metadata and the benchmark-fit reference, the held-out part into the
   examples of the before/after figures (codeclm.optimize.trainset).
2. The filter check runs first (as `codeclm run` does) unless `judging.check.enabled: false`:
   a filter that cannot tell the target's failures apart would make the contrast part noise.
3. The held-out examples are scored with the program as it is, the chosen optimizer tunes the
   chosen steps jointly on the training examples, and the held-out examples are scored again.
4. The tuned program is saved (`codeclm run --tuned`, `load_program(tuned=...)`) with the
   figures in its header, and a report JSON beside it holds every scored instruction and every
   flagged one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy
from rich.console import Console
from rich.table import Table

from codeclm.models.config import OptimizeSettings, ProgramConfig, load_config
from codeclm.errors import ConfigError, OptimizeError
from codeclm.evaluation.benchmarks import load_benchmark
from codeclm.executors import ThreadExecutor
from codeclm.output.jsonl import write_atomic
from codeclm.optimize.chain import CHAIN, GenerationChain
from codeclm.optimize.figures import Comparison, mean, paired_bootstrap
from codeclm.optimize.leakage import THRESHOLDS, LeakGuard, load_protected
from codeclm.optimize.metric import ExampleAssessment, OptimizeMetric
from codeclm.optimize.optimizers import OPTIMIZERS, compile_chain, put_back
from codeclm.optimize.split import split_benchmark
from codeclm.optimize.trainset import build_examples
from codeclm.console.progress import StageProgress
from codeclm.programs.session import open_program
from codeclm.console.tables import print_table
from codeclm.programs.tuned import save_tuned

REFUSED = {
    "encode": "the benchmark-fit part re-encodes instructions with it: tuning it would move the ruler",
    "respond": "the contrast part scores its answers: tuning it against the target's failure rewards odd answers",
    "judge": "the judge is part of the metric",
    "enlarge": "it has no prompt (no LLM)",
}


def parse_steps(steps: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'decode,improve' or a list -> validated step names; OptimizeError names a refused step and why."""
    names = [s.strip() for s in (steps.split(",") if isinstance(steps, str) else steps) if s.strip()]
    if not names:
        raise OptimizeError(f"--steps is empty: name one or more of {', '.join(CHAIN)}, e.g. --steps decode,improve")
    for name in names:
        if name not in CHAIN:
            why = REFUSED.get(name, "not a step of the program")
            raise OptimizeError(f"cannot optimize step '{name}' ({why}); supported: {', '.join(CHAIN)}")
    return tuple(dict.fromkeys(names))


def check_program(config: ProgramConfig, steps: tuple[str, ...]) -> None:
    if config.program != "codeclm":
        raise OptimizeError(f"optimize tunes CodecLM programs; {config.source} is program: {config.program}")
    if not config.ablation.metadata:
        raise OptimizeError(f"{config.source}: optimize needs metadata (ablation.metadata: true): the chain starts from metadata")
    if {"rubrics", "improve"} & set(steps) and (not config.ablation.self_rubrics or config.max_iterations < 2):
        raise OptimizeError(f"{config.source}: Self-Rubrics/Improve never run with ablation.self_rubrics: false or "
                            f"max_iterations < 2 (it is {config.max_iterations}); set max_iterations: 2 or tune decode only")


def settings_with(config: ProgramConfig, **overrides: Any) -> ProgramConfig:
    """The config with CLI/Python overrides of `optimize:` applied and validated like the YAML."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        merged = OptimizeSettings.model_validate({**config.optimize.model_dump(), **given})
    except Exception as exc:  # pydantic ValidationError: one line naming the setting
        errors = exc.errors() if hasattr(exc, "errors") else [{"loc": ("optimize",), "msg": str(exc)}]
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"optimize.{where}: {first['msg'].removeprefix('Value error, ')}") from None
    return config.model_copy(update={"optimize": merged})


class PhaseClock:
    """Wall time and paid calls / cache hits of each phase, from the session's ledger."""

    def __init__(self, ledger):
        self.ledger, self.phases = ledger, {}

    def _totals(self) -> tuple[int, int]:
        total = self.ledger.summary()["total"]
        return total["calls"], total["cache_hits"]

    def run(self, name: str, fn, *args, **kwargs):
        started, (calls, hits) = time.time(), self._totals()
        try:
            return fn(*args, **kwargs)
        finally:
            now_calls, now_hits = self._totals()
            self.phases[name] = {"calls": now_calls - calls, "cache_hits": now_hits - hits,
                                 "wall_seconds": round(time.time() - started, 1)}


@dataclass
class OptimizeResult:
    out: Path
    report: Path
    steps: tuple[str, ...]
    optimizer: str
    comparison: Comparison
    before: list[ExampleAssessment]
    after: list[ExampleAssessment]
    flagged: list[dict[str, Any]]
    changes: dict[str, dict[str, Any]]
    phases: dict[str, dict[str, Any]]
    filter_check: str
    wall_seconds: float
    calls: int = 0
    cache_hits: int = 0
    train_size: int = 0


@contextmanager
def shown(console: Console, concurrency: int):
    """A thread executor whose stages show progress (bars on a terminal, lines in a log)."""
    with StageProgress(console) as progress:
        yield ThreadExecutor(concurrency, progress=progress)


def score_examples(chain: GenerationChain, examples: list[dspy.Example], metric: OptimizeMetric, console: Console,
                   concurrency: int, phase: str) -> list[ExampleAssessment]:
    metric.phase = phase
    with shown(console, concurrency) as executor:
        outcomes = executor.map(phase, lambda ex: metric.assess(ex, chain(**ex.inputs())), examples)
    return [o.value for o in outcomes]


def encode_examples(program, parts, settings, console: Console, concurrency: int):
    with shown(console, concurrency) as executor:
        return build_examples(program, parts, settings, executor)


def optimize(
    config: ProgramConfig, *, benchmark: str | None = None, steps: str | list[str] | None = None,
    optimizer: str | None = None, split: float | None = None, train: int | None = None, heldout: int | None = None,
    demos: int | None = None, max_metric_calls: int | None = None, field_name: str | None = None,
    out: str | Path | None = None, tuned: str | Path | None = None, lms: dict[str, Any] | None = None,
    console: Console | None = None,
) -> OptimizeResult:
    """Tune `steps` of the program in `config` against `benchmark` with `optimizer`; save the whole program to `out`.

    Arguments left None come from the YAML's `optimize:` section. `tuned` starts from an earlier tuned program.
    """
    console = console or Console(stderr=True)
    config = settings_with(config, benchmark=benchmark, steps=list(parse_steps(steps)) if steps is not None else None,
                           optimizer=optimizer, split=split, train=train, heldout=heldout, demos=demos,
                           gepa_max_metric_calls=max_metric_calls)
    settings = config.optimize
    steps_ = tuple(settings.steps)
    if settings.optimizer not in OPTIMIZERS:
        raise OptimizeError(f"unknown optimizer {settings.optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    check_program(config, steps_)
    if not settings.benchmark:
        raise OptimizeError(f"{config.source}: no benchmark: pass --benchmark vicuna|self_instruct|FILE "
                            "(or set optimize.benchmark in the YAML)")
    # A --benchmark file is relative to the working directory; one named in the YAML, to the YAML.
    source = settings.benchmark if benchmark or not _is_path(settings.benchmark) else str(config.resolve(settings.benchmark))
    name, items = load_benchmark(source, field=field_name)
    parts = split_benchmark(name, items, settings.split, config.seed)
    guard = LeakGuard(parts.heldout, load_protected(settings.protect, config.resolve))
    out = Path(out) if out else (Path.cwd() if config.bundled else config.base_dir) / f"{config.name}.tuned.json"
    started = time.time()
    with open_program(config, lms=lms, tuned=tuned) as session:
        program = session.program
        clock = PhaseClock(session.engine.ledger)
        check_line = clock.run("filter check", _filter_check, session, console)
        examples = clock.run("encode benchmark", encode_examples, program, parts, settings, console, config.concurrency)
        metric = OptimizeMetric(program, pool=examples.pool, guard=guard, settings=settings)
        chain = GenerationChain(program, steps_, config.seed)
        console.print(f"[bold]optimize[/] {', '.join(steps_)} with {settings.optimizer} on {name}: "
                      f"{len(examples.train)} training / {len(examples.heldout)} held-out metadata "
                      f"({len(parts.optimization)}/{len(parts.heldout)} items split at {settings.split:g}), "
                      f"fit pool {len(examples.pool)}, {len(guard)} protected items", highlight=False)
        before = clock.run("held-out before", score_examples, chain, examples.heldout, metric, console,
                           config.concurrency, "before")
        metric.phase = "optimize"
        compiled = clock.run("optimize", compile_chain, settings.optimizer, chain, examples.train, metric,
                             strong=session.lms.get("strong"), config=config)
        changes = put_back(chain, compiled, keep_template_demos=settings.optimizer == "bootstrap")
        after = clock.run("held-out after", score_examples, chain, examples.heldout, metric, console,
                          config.concurrency, "after")
        comparison = paired_bootstrap([a.score for a in before], [a.score for a in after],
                                      samples=settings.bootstrap_samples, seed=config.seed)
        usage = session.engine.ledger.summary()
        wall = round(time.time() - started, 1)
        summary = {
            "program": Path(config.source).stem if config.bundled else _relative(config.source, out.parent),
            "steps": list(steps_), "optimizer": settings.optimizer,
            "benchmark": name, "split": settings.split, "seed": config.seed, "train": len(examples.train),
            "heldout": len(examples.heldout), "weights": settings.weights.model_dump(), "scheme": config.judging.scheme,
            "theta": config.theta, "filter_check": check_line, "comparison": comparison.to_dict(),
            "flagged": len(metric.flagged), "calls": usage["total"]["calls"], "cache_hits": usage["total"]["cache_hits"],
            "wall_seconds": wall, "changes": changes,
        }
        save_tuned(program, out, provenance=summary)
    report = report_path(out)
    write_atomic(report, json.dumps({
        **summary, "tuned": str(out), "tuned_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "split_ids": parts.ids(), "fit_pool": [m.model_dump() for m in examples.pool],
        "encode_failures": examples.encode_failures,
        "metric": {"contrast": "clip(gap / (2 theta), 0, 1); 0 when the strong answer fails its guard",
                   "fit": "1/2 best use-case word Jaccard + 1/2 mean over skills of the best skill word Jaccard, "
                          "against the fit pool",
                   "validity": "mean of: reads as an instruction; min_words..max_words; no near-duplicate",
                   "leak": {"ngram": THRESHOLDS["ngram"], "rouge_l_above": THRESHOLDS["rouge_l"],
                            "protected": ["held-out", *settings.protect]},
                   "min_words": settings.min_words, "max_words": settings.max_words},
        "before": _detail(examples.heldout, before), "after": _detail(examples.heldout, after),
        "flagged_instructions": metric.flagged, "optimize_runs": metric.runs, "phases": clock.phases, "usage": usage,
    }, indent=1, ensure_ascii=False, default=str) + "\n")
    result = OptimizeResult(out, report, steps_, settings.optimizer, comparison, before, after, list(metric.flagged),
                            changes, clock.phases, check_line, wall, usage["total"]["calls"],
                            usage["total"]["cache_hits"], len(examples.train))
    print_result(result, console)
    return result


def _filter_check(session, console: Console) -> str:
    """The filter check of `codeclm run`, enforced (JudgeCalibrationError with a fix when it fails)."""
    config = session.config
    if not config.judging.check.enabled:
        return "not run (judging.check.enabled: false): the contrast part is unchecked"
    from codeclm.check.program import check_filter, require_passed

    console.print(f"[bold]Filter check[/] ({config.judging.scheme} at theta {config.theta:g})")
    report = check_filter(session)
    console.print(f"filter check: {report.line()}", highlight=False)
    return require_passed(report).line()


def report_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".json") + ".report.json")


def _detail(examples: list[dspy.Example], judged: list[ExampleAssessment]) -> list[dict[str, Any]]:
    return [{"key": ex.key, "source": ex.source, "metadata": ex.metadata.model_dump(), "score": round(j.score, 4),
             "errors": j.errors, "instructions": [a.to_dict() for a in j.assessments]} for ex, j in zip(examples, judged)]


def _is_path(value: str) -> bool:
    from codeclm.evaluation.benchmarks import BUNDLED

    return value.removeprefix("benchmark:") not in BUNDLED


def _relative(path: str, start: Path) -> str:
    try:
        return os.path.relpath(Path(path).resolve(), start.resolve())
    except ValueError:  # another drive (Windows)
        return str(Path(path).resolve())


def parts_means(judged: list[ExampleAssessment]) -> dict[str, float | None]:
    """Mean contrast / fit / validity over the instructions made, and the share the filter would keep."""
    made = [a for j in judged for a in j.assessments]

    def avg(values):
        values = [v for v in values if v is not None]
        return mean(values) if values else None

    return {"contrast": avg(a.contrast for a in made), "fit": avg(a.fit for a in made),
            "validity": avg(a.validity.score if a.validity else None for a in made),
            "kept by filter": mean([a.kept for a in made]) if made else None,
            "flagged": sum(a.leak is not None for a in made)}


def print_result(result: OptimizeResult, console: Console) -> None:
    table = Table(title=f"optimize {', '.join(result.steps)} ({result.optimizer})")
    table.add_column("held-out")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    c = result.comparison
    table.add_row("metric (mean, 0-1)", f"{c.before:.3f}", f"{c.after:.3f}")
    before, after = parts_means(result.before), parts_means(result.after)
    for part in ("contrast", "fit", "validity", "kept by filter", "flagged"):
        fmt = (lambda v: "-" if v is None else str(v)) if part == "flagged" else (lambda v: "-" if v is None else f"{v:.3f}")
        table.add_row(part, fmt(before[part]), fmt(after[part]))
    table.add_row("examples", str(len(result.before)), str(len(result.after)))
    print_table(console, table)
    console.print(c.line(), highlight=False)
    console.print(f"filter check: {result.filter_check}", highlight=False)
    for name, phase in result.phases.items():
        console.print(f"  {name}: {phase['calls']} calls, {phase['cache_hits']} cached, {phase['wall_seconds']} s", highlight=False)
    console.print(f"{result.calls} LLM calls ({result.cache_hits} cache hits), {result.wall_seconds} s wall time; "
                  f"{len(result.flagged)} instruction(s) flagged for copying a held-out or test item", highlight=False)
    for step, change in result.changes.items():
        console.print(f"  {step}: instructions {'changed' if change['instructions_changed'] else 'unchanged'}, "
                      f"{change['demos']} demos ({change['bootstrapped_demos']} bootstrapped)", highlight=False)
    console.print(f"saved the tuned program: {result.out} (report: {result.report})", highlight=False)
    console.print(f"use it: codeclm run PROGRAM.yaml --tuned {result.out}; see it: codeclm show {result.out}", highlight=False)


def optimize_file(path: str | Path, overrides: list[str] | None = None, **kwargs: Any) -> OptimizeResult:
    """`optimize` on a program YAML (with `--set` overrides)."""
    return optimize(load_config(path, overrides), **kwargs)
