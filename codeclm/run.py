"""Run a program file end to end: models up, seeds in, records out (resumable), summary and manifest."""

from __future__ import annotations

import json
import logging
import platform
import time
from collections import Counter
from contextlib import ExitStack
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from rich.console import Console

from codeclm.config import ProgramConfig, load_config
from codeclm.errors import EndpointError
from codeclm.io import JsonlSink, read_seeds
from codeclm.models import build_lms, open_engine
from codeclm.progress import StageProgress
from codeclm.baselines.registry import build_program
from codeclm.program import CodecLM
from codeclm.records import Dropped, Record
from codeclm.runner import Outcome, Runner

log = logging.getLogger(__name__)


def dropped_path(output: Path) -> Path:
    return output.with_name(output.stem + ".dropped.jsonl")


def manifest_path(output: Path) -> Path:
    return output.with_name(output.stem + ".manifest.json")


class RecordingRunner(Runner):
    """Writes each record the moment its item finishes, and reports progress per stage."""

    def __init__(self, concurrency: int, kept: JsonlSink, dropped: JsonlSink, progress: StageProgress | None):
        super().__init__(concurrency)
        self.kept, self.dropped, self.progress = kept, dropped, progress

    def stage_started(self, stage: str, total: int) -> None:
        if self.progress is not None:
            self.progress.start(stage, total)

    def item_done(self, stage: str, outcome: Outcome) -> None:
        if stage == "filter" and outcome.ok:
            sink = self.kept if isinstance(outcome.value, Record) else self.dropped
            sink.write(outcome.value)
        if self.progress is not None:
            self.progress.advance(stage)


def run(
    config: ProgramConfig, *, seeds_path: str | None = None, output: str | None = None,
    console: Console | None = None, lms: dict[str, Any] | None = None, tuned: str | Path | None = None,
) -> dict[str, Any]:
    """Run `config` (on `lms` if given, else the YAML's models); return the summary also written to the manifest.

    `tuned`: a saved (e.g. `codeclm optimize`d) program JSON whose instructions and demos replace the templates'.
    """
    console = console or Console(stderr=True)
    started = time.time()
    out = Path(output) if output else config.resolve(config.output)
    seeds = read_seeds(seeds_path or config.resolve(config.seeds.path), config.seeds.field, config.seeds.input_field, config.seeds.limit)
    forget_failures(dropped_path(out))
    kept, dropped = JsonlSink(out), JsonlSink(dropped_path(out))
    resumed = len(kept.ids) + len(dropped.ids)
    if resumed:
        console.print(f"[bold]Resuming[/]: {resumed} finished items in {out} are kept and skipped")
    with ExitStack() as stack:
        engine = open_engine(config, stack)
        lms = lms if lms is not None else build_lms(config, stack, engine)
        program = build_program(config, lms)  # `program:` picks CodecLM or a baseline
        if tuned:
            program.load(str(tuned))
        calibration = check_judge(config, program, seeds, console)
        progress = stack.enter_context(StageProgress(console))
        runner = RecordingRunner(config.concurrency, kept, dropped, progress)
        try:
            result = program(seeds=seeds, runner=runner, done=kept.ids | dropped.ids)
        except EndpointError:
            _explain_dead_local_server()
            raise
        for item in result.dropped:
            dropped.write(item)
    summary = summarize(config, out, program, time.time() - started, calibration)
    summary["usage"] = engine.ledger.summary()
    summary["calls_per_kept_record"] = _calls_per_record(summary)
    manifest_path(out).write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def _explain_dead_local_server() -> None:
    """An embedded server that died mid-run explains failing calls better than the calls do."""
    from codeclm.local import check_started  # pure Python: llama_cpp is only needed to start a server

    check_started()


def forget_failures(path: Path) -> None:
    """Failed items are retried on a rerun: remove them from the dropped file (atomic rewrite)."""
    lines = _lines(path)
    keep = [line for line in lines if json.loads(line).get("kind") != "failed"]
    if len(keep) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
        tmp.replace(path)


def check_judge(config: ProgramConfig, program, seeds: list, console: Console):
    """Judge calibration before Contrastive Filtering (cached); JudgeCalibrationError when the judge is at chance."""
    cal = config.judging.calibration
    if not (cal.enabled and config.ablation.contrastive_filtering and hasattr(program, "contrastive_filter")):
        return None
    from codeclm.judging.calibration import require_passed
    from codeclm.judging.check import calibrate

    console.print(f"[bold]Judge calibration[/] ({config.judging.scheme}, {cal.seeds} seeds x 3 pairs, cached)")
    report = calibrate(config, program, seeds)[0]
    console.print(f"judge calibration: {report.line()}{' (cached)' if report.cached else ''}", highlight=False)
    return require_passed(report)


def summarize(config: ProgramConfig, out: Path, program: CodecLM, seconds: float, calibration=None) -> dict[str, Any]:
    """Counts over the whole output files (this run and resumed ones)."""
    kept = [Record.model_validate_json(line) for line in _lines(out)]
    dropped = [Dropped.model_validate_json(line) for line in _lines(dropped_path(out))]
    return {
        "program": config.name,
        "output": str(out),
        "dropped_output": str(dropped_path(out)),
        "kept": len(kept),
        "dropped": len(dropped),
        "dropped_by_reason": dict(Counter(_reason(d) for d in dropped)),
        "iterations": dict(sorted(Counter(r.iteration for r in kept).items())),
        "kept_by_source": dict(Counter(r.response_source for r in kept)),
        "models": program.model_names(),
        "judge": judge_summary(config, calibration),
        "extra_rows": judge_rows(config, calibration),
        "templates": program.templates,
        "config": config.model_dump(mode="json"),
        "wall_seconds": round(seconds, 2),
        "versions": _versions(),
    }


def judge_summary(config: ProgramConfig, calibration) -> dict[str, Any]:
    """The scheme, theta and calibration figures (without per-pair verdicts) for the manifest."""
    figures = calibration.model_dump(exclude={"results"}) if calibration is not None else None
    return {"scheme": config.judging.scheme, "theta": config.theta, "calibration": figures}


def judge_rows(config: ProgramConfig, calibration) -> dict[str, str]:
    """Summary rows: the judge's scheme and calibration beside the kept/dropped counts."""
    if not config.ablation.contrastive_filtering or config.program != "codeclm":
        return {}
    rows = {"judge scheme": f"{config.judging.scheme} (theta {config.theta:g})"}
    rows["judge calibration"] = calibration.line() if calibration is not None else "not run (judging.calibration.enabled: false)"
    judge = config.models.judge or config.models.strong
    if judge.local:
        rows["judge note"] = (f"local judge {judge.local}: the filter catches gross defects only (cut-off, off-topic "
                              "answers), not real quality gaps; use a stronger judge for real data (docs/judging.md)")
    return rows


def _calls_per_record(summary: dict[str, Any]) -> float | None:
    """Paid LLM calls (not cache hits) of this invocation per kept record."""
    calls = summary["usage"]["total"]["calls"]
    return round(calls / summary["kept"], 2) if summary["kept"] else None


def _reason(item: Dropped) -> str:
    return f"failed at {item.stage}" if item.kind == "failed" else "filtered: too easy at the cap"


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("codeclm", "dspy", "litellm", "jinja2", "llama_cpp_python"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def run_file(path: str, overrides: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
    return run(load_config(path, overrides), **kwargs)
