"""Run a program file end to end: checks first, then models up, seeds in, records out (resumable), manifest.

Nothing is written before the run is known to start: the output must be writable, the seeds
readable, the earlier output parseable and made by the same program (its fingerprint), the
models reachable. Then the manifest says "running", each item is appended as it finishes,
and the manifest is rewritten with the summary (or with why the run stopped).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from codeclm.models.config import ProgramConfig, load_config
from codeclm.models.roles import target_is_strong
from codeclm.errors import BudgetReached, CodecLMError, ConfigError, EndpointError
from codeclm.executors import ThreadExecutor
from codeclm.output.fingerprint import differences, fingerprint
from codeclm.check.grading import CheckReport
from codeclm.output.jsonl import write_atomic
from codeclm.console.progress import StageProgress
from codeclm.seeds.readers import read_seeds
from codeclm.programs.session import open_program
from codeclm.output.sink import FileSink, OutputState, dropped_path, manifest_path

log = logging.getLogger(__name__)


class OutputError(CodecLMError):
    """An output path that cannot be written, or an output made by another program."""


def check_writable(output: Path) -> None:
    """Create the output's folder and prove the three output files can be written, before any LLM call."""
    if output.is_dir():
        raise OutputError(f"{output}: is a folder; give a file path for the output (--out data/NAME.jsonl)")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        for path in (output, dropped_path(output), manifest_path(output)):
            with path.open("a", encoding="utf-8"):
                pass
    except OSError as exc:
        raise OutputError(f"{output}: cannot write there ({exc.strerror or exc}); choose another --out "
                          f"or fix the folder's permissions") from None


def read_manifest(output: Path) -> dict[str, Any] | None:
    path = manifest_path(output)
    if not path.exists() or not path.read_text(encoding="utf-8").strip():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise OutputError(f"{path}: unreadable manifest; delete it and rerun with --extend to continue this output, "
                          "or write to a new one (--out)") from None


def check_same_program(output: Path, state: OutputState, current: dict[str, Any], extend: bool) -> list[dict[str, Any]]:
    """Refuse to add to an output made by another program (unless `extend`); returns the earlier runs."""
    manifest = read_manifest(output)
    earlier = (manifest or {}).get("runs", [])
    if not (state.kept or state.dropped) or extend:
        return earlier
    previous = (manifest or {}).get("fingerprint")
    if previous is None:
        raise OutputError(f"{output}: holds items but no fingerprint of the program that made them; "
                          f"rerun with --extend to add to it anyway, or write to a new output (--out)")
    if previous.get("sha256") != current["sha256"]:
        changed = "; ".join(differences(previous, current)) or "the program"
        raise OutputError(f"{output} was made by another program ({changed}); rerun with --extend to add to it "
                          f"(items are matched by content), or write to a new output (--out)")
    return earlier


EXECUTORS = ("threads", "batch", "ray")


def run(
    config: ProgramConfig, *, seeds_path: str | None = None, output: str | None = None, console: Console | None = None,
    lms: dict[str, Any] | None = None, tuned: str | Path | None = None, extend: bool = False,
    executor: str = "threads", poll_seconds: float = 30.0, address: str | None = None,
) -> dict[str, Any]:
    """Run `config` (on `lms` if given, else the YAML's models); return the summary also written to the manifest.

    `tuned`: a saved (`codeclm optimize`d) program whose instructions and demos replace the templates'.
    `extend`: add to an output made by a different program (another config, templates, seeds or models).
    `executor`: "threads" (calls go out directly), "batch" (provider batch APIs at batch prices, polled
    every `poll_seconds`; see codeclm/executors/batch.py) or "ray" (stages on the Ray cluster at `address`,
    same records as threads; see docs/scale.md).
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor}: unknown executor; choose from {', '.join(EXECUTORS)}")
    if executor != "threads" and config.records:
        raise ConfigError(f"{config.source}: records: a records: N run counts its records in this process; run it with "
                          f"--executor threads, or size the run with num_metadata instead")
    if executor != "threads" and config.caps().any:
        raise ConfigError(f"{config.source}: {', '.join(config.caps().as_dict())}: caps are checked before each call on "
                          f"--executor threads only; remove them or run with --executor threads")
    if executor == "ray" or address:
        from codeclm.cluster import check_ray_run

        check_ray_run(config, address=address, executor=executor, lms=lms)  # before any model starts
    require_calibrated_theta(config)
    console = console or Console(stderr=True)
    started = time.time()
    out = Path(output) if output else config.resolve(config.output)
    check_writable(out)
    seeds = read_seeds(seeds_path or config.resolve(config.seeds.path), config.seeds.field, config.seeds.input_field, config.seeds.limit,
                       config.seeds.where)
    if seeds_path and config.seeds.limit and len(seeds) >= config.seeds.limit:  # the limit cut the file
        console.print(f"seeds: the first {config.seeds.limit} of {seeds_path} only ({config.source} sets seeds.limit: "
                      f"{config.seeds.limit}; --set seeds.limit=null reads them all)", highlight=False, soft_wrap=True)
    state = OutputState(out)
    with open_program(config, lms=lms, tuned=tuned) as session:
        program = session.program
        progress = StageProgress(console)
        stage_executor = make_executor(executor, session, progress, poll_seconds, tuned=tuned, address=address)  # checks batch keys before writing
        current = fingerprint(config, program, seeds, session.lms)
        runs = check_same_program(out, state, current, extend)
        if state.kept or state.dropped:
            console.print(f"[bold]Resuming[/]: {len(state.done_ids)} finished items in {out} are kept and skipped")
        runs = runs + [{"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "fingerprint": current["sha256"], "extend": extend}]
        _write_manifest(out, {"status": "running", "fingerprint": current, "runs": runs})
        sink = FileSink(out, state)
        summary: dict[str, Any] = {}
        try:
            check = check_judge(session, console)
            with progress:
                program(seeds=seeds, executor=stage_executor, sink=sink, done=state.done_ids, prior=state)
            sink.compact()
            summary = summarize(config, out, state, program, time.time() - started, check)
            summary["status"] = "finished"
        except BudgetReached as exc:  # a clean stop: every finished item is on disk, a rerun with a higher cap resumes
            sink.compact()
            summary = summarize(config, out, state, program, time.time() - started, None)
            summary["status"] = f"stopped: {exc}"
            summary["stopped_by"] = exc.cap
        except BaseException as exc:
            summary = summarize(config, out, state, program, time.time() - started, None)
            summary["status"] = f"stopped: {type(exc).__name__}: {str(exc)[:300]}" if str(exc) else f"stopped: {type(exc).__name__}"
            if isinstance(exc, EndpointError):
                _explain_dead_local_server()
            raise
        finally:
            summary["executor"] = executor
            summary["usage"] = session.engine.ledger.summary()
            if session.engine.guard is not None:
                summary["caps"] = session.engine.guard.summary()
            if getattr(program, "quota_report", None) is not None:
                summary["quota"] = program.quota_report
            attach_plan(out, summary)
            summary["calls_per_kept_record"] = _calls_per_record(summary, (summary.get("judge", {}).get("check") or {}).get("calls", 0))
            _write_manifest(out, {**summary, "fingerprint": current, "runs": runs})
    return summary


def require_calibrated_theta(config: ProgramConfig) -> None:
    """Under a scheme whose scale is the target's own (target-loss), a filtering run needs theta fit for its target."""
    filters = config.program == "codeclm" and config.ablation.contrastive_filtering
    if filters and config.theta_source == "uncalibrated" and not target_is_strong(config):  # gap 0 is under any theta
        raise ConfigError(
            f"{config.source}: theta for target {config.models.target.label} under {config.judging.scheme} is not calibrated: "
            f"run `codeclm judge calibrate {config.source}` (fits theta on labelled dev items for this target; add --items "
            f"FILE with your own labelled items), or set theta: explicitly")


def attach_plan(out: Path, summary: dict[str, Any]) -> None:
    """Projected (`codeclm plan`, if it wrote a plan for this output) beside actual, in the summary."""
    from codeclm.output.sizing import compare_with_plan

    compared = compare_with_plan(out, summary)
    if compared is not None:
        summary["plan"] = compared


def make_executor(name: str, session, progress: StageProgress, poll_seconds: float = 30.0, *, tuned=None, address=None):
    """The executor named `name` for an open session (the batch one checks its keys and cache here; the Ray one
    starts its workers here and stops them when the session closes)."""
    if name == "ray":
        from codeclm.cluster import RayExecutor

        executor = RayExecutor(session.config, tuned=tuned, address=address, session=session, progress=progress)
        session.stack.callback(executor.close)
        return executor
    if name == "batch":
        from codeclm.executors.batch_setup import batch_executor

        return batch_executor(session, progress=progress, poll_seconds=poll_seconds)
    return ThreadExecutor(session.config.concurrency, progress=progress)


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    write_atomic(manifest_path(out), json.dumps(manifest, indent=2, default=str) + "\n")


def _explain_dead_local_server() -> None:
    """An embedded server that died mid-run explains failing calls better than the calls do."""
    from codeclm.local import check_started  # pure Python: llama_cpp is only needed to start a server

    check_started()


def check_judge(session, console: Console) -> CheckReport | None:
    """The filter check before Contrastive Filtering; JudgeCalibrationError (with a fix) when it fails.
    The check's paid calls are kept apart (`report.calls`), so calls per kept record count the pipeline."""
    config = session.config
    if not (config.judging.check.enabled and config.ablation.contrastive_filtering and hasattr(session.program, "contrastive_filter")):
        return None
    from codeclm.check.program import check_filter, record_report, recorded_report, require_passed
    from codeclm.models.calibrations import record_places

    # A check is paid once per target, scheme, theta, templates and items: recorded by `codeclm judge check` beside the
    # program, or by an earlier run in the cache folder; with the cache off, every call (the check's too) is made again.
    places = record_places(config) if config.cache.enabled else []
    recorded = recorded_report(session, places)
    if recorded is not None:
        report, day = recorded
        console.print(f"filter check (recorded {day} for this target, scheme, theta, templates and items; "
                      f"`codeclm judge check` runs it again): {report.line()}", highlight=False)
    else:
        console.print(f"[bold]Filter check[/] ({config.judging.scheme} at theta {config.theta:g}, items with a known right decision)")
        before = session.engine.ledger.summary()["total"]["calls"]
        report = check_filter(session)
        report.calls = session.engine.ledger.summary()["total"]["calls"] - before
        console.print(f"filter check: {report.line()}", highlight=False)
        if report.status in ("passed", "target_strong") and places:
            record_report(session, report, where=places[-1])
    require_passed(report)
    if report.target_is_the_strong_model:
        console.print(f"[yellow]The target is the strong model itself[/] ({config.models.target.label}): every instruction is too easy "
                      f"by construction; each is sent back to Self-Rubrics, improved, and dropped at the cap (max_iterations "
                      f"{config.max_iterations}), so the output will be empty. Choose a weaker target: models.target.", highlight=False)
    elif report.status == "target_strong":
        console.print(f"[yellow]The target is strong for these instructions[/]: it answers {report.by_decision['send_back'].split('/')[1]} "
                      f"of {report.items} check items about as well as the strong model; expect most instructions to be sent back "
                      f"to Self-Rubrics and dropped at the cap (max_iterations {config.max_iterations}).", highlight=False)
    return report


def summarize(config: ProgramConfig, out: Path, state: OutputState, program, seconds: float, check: CheckReport | None = None) -> dict[str, Any]:
    """Counts over the whole output (this run and resumed ones), from the output's index."""
    kept, dropped = list(state.kept.values()), list(state.dropped.values())
    return {
        "program": config.name,
        "output": str(out),
        "dropped_output": str(dropped_path(out)),
        "kept": len(kept),
        "dropped": len(dropped),
        "dropped_by_reason": dict(Counter(_reason(d) for d in dropped)),
        "near_duplicates": sum(1 for d in dropped if d.stage == "dedup"),
        "iterations": dict(sorted(Counter(r.iteration for r in kept).items())),
        "kept_by_source": dict(Counter(r.source for r in kept)),
        "models": program.model_names(),
        "judge": judge_summary(config, check),
        "extra_rows": judge_rows(config, check),
        "answer_guards": program.guard_counts.summary() if hasattr(program, "guard_counts") else {},
        **data_trust(config, kept),
        "templates": program.templates,
        "tuned": program.tuned,
        "config": config.model_dump(mode="json"),
        "wall_seconds": round(seconds, 2),
        "versions": _versions(),
    }


def data_trust(config: ProgramConfig, kept: list) -> dict[str, Any]:
    """Where the seeds come from (a bundled benchmark's split, if so) and how many kept instructions overlap a
    bundled benchmark item (codeclm.evaluation.overlap: a shared 8-word run or ROUGE-L > 0.7)."""
    from codeclm.evaluation.overlap import overlap_summary
    from codeclm.seeds.readers import bundled_split
    from codeclm.seeds.splits import SPLIT_RULE

    split = bundled_split(config.resolve(config.seeds.path))
    seeds = {"path": config.seeds.path, "split": str(split) if split else None, "split_rule": SPLIT_RULE if split else None}
    return {"seeds": seeds, "benchmark_overlap": overlap_summary([(r.id, r.instruction) for r in kept])}


def judge_summary(config: ProgramConfig, check: CheckReport | None) -> dict[str, Any]:
    """The scheme, theta and the filter check's figures (without per-item results) for the manifest."""
    figures = check.model_dump(exclude={"results"}) if check is not None else None
    return {"scheme": config.judging.scheme, "theta": config.theta, "theta_source": config.theta_source, "check": figures}


def judge_rows(config: ProgramConfig, calibration: CheckReport | None) -> dict[str, str]:
    """Summary rows: the judge's scheme and calibration beside the kept/dropped counts."""
    if not config.ablation.contrastive_filtering or config.program != "codeclm":
        return {}
    rows = {"filter": f"{config.judging.scheme} (theta {config.theta:g})"}
    rows["filter check"] = calibration.line() if calibration is not None else "not run (judging.check.enabled: false): decisions unchecked"
    return rows


def _calls_per_record(summary: dict[str, Any], check_calls: int = 0) -> float | None:
    """Paid LLM calls (not cache hits) of this invocation's pipeline per kept record (the filter check's apart)."""
    calls = summary["usage"]["total"]["calls"] - check_calls
    return round(calls / summary["kept"], 2) if summary.get("kept") else None


def _reason(item) -> str:
    return f"failed at {item.stage}" if item.kind == "failed" else "filtered: too easy at the cap" if item.stage == "filter" else f"filtered at {item.stage}"


def _versions() -> dict[str, str]:
    from codeclm.output.versions import versions

    return versions()


def run_file(path: str, overrides: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
    return run(load_config(path, overrides), **kwargs)
