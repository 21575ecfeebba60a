"""`codeclm judge check PROGRAM.yaml`: calibration figures per scheme, as a table."""

from __future__ import annotations

from contextlib import ExitStack

from rich.console import Console
from rich.table import Table

from codeclm.judging.scales import SCALES

NOTE = ("Passing is necessary, not sufficient: the pairs hold gross defects (cut-off, off-topic, refusal, empty). "
        "A judge that passes may still miss real quality gaps between the strong and the target answer.")


def judge_check(program: str, overrides: list[str], *, schemes: list[str] | None = None, all_schemes: bool = False,
                use_cache: bool = True, console: Console | None = None) -> int:
    """Calibrate; print one row per scheme; 0 when the configured (or first asked) scheme passes, else 1."""
    from codeclm.config import load_config
    from codeclm.errors import ConfigError
    from codeclm.io import read_seeds
    from codeclm.judging.check import calibrate
    from codeclm.models import build_lms
    from codeclm.program import CodecLM

    console = console or Console(stderr=True)
    config = load_config(program, overrides)
    wanted = list(SCALES) if all_schemes else (schemes or [config.judging.scheme])
    unknown = [s for s in wanted if s not in SCALES]
    if unknown:
        raise ConfigError(f"--scheme {unknown[0]}: unknown judging scheme; choose from {', '.join(SCALES)}")
    seeds = read_seeds(config.resolve(config.seeds.path), config.seeds.field, config.seeds.input_field, config.seeds.limit)
    with ExitStack() as stack:
        program_ = CodecLM(config, build_lms(config, stack))
        reports = calibrate(config, program_, seeds, schemes=wanted, use_cache=use_cache)
    console.print(table(reports))
    console.print(NOTE, highlight=False)
    main = next((r for r in reports if r.scheme == config.judging.scheme), reports[0])
    return 0 if main.passed else 1


def table(reports) -> Table:
    t = Table(title="judge calibration (known-better answer pairs)")
    for col in ("scheme", "judge", "correct", "accuracy", "orders agree", "first-position share", "gap > theta", "by kind", "s / pair", "result"):
        t.add_column(col)
    for r in reports:
        t.add_row(
            r.scheme, r.judge_model, f"{r.correct}/{r.pairs}", f"{r.accuracy:.0%}",
            "n/a" if r.order_consistency is None else f"{r.order_consistency:.0%}",
            "n/a" if r.position_bias is None else f"{r.position_bias:.2f}",
            f"{r.above_threshold:.0%} (theta {r.threshold:g})", " ".join(f"{k} {v}" for k, v in r.by_kind.items()),
            f"{r.seconds_per_pair:.1f}{' (cached)' if r.cached else ''}", "pass" if r.passed else "FAIL",
        )
    return t
