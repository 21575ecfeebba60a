"""Refuse an eval that would score the instructions the program's data was seeded with.

CodecLM seeds with a 20% split of a benchmark and evaluates on the rest (codeclm.seeds.splits). An eval of
a bundled benchmark split that shares rows with the program's seed split (`benchmark:NAME:all`
seeds, or the bundled file itself, against any split; the same split on both sides), or of a
benchmark file that is the program's seeds file, stops with one line naming the fix. A copy of a
benchmark under another name is not recognised here: the benchmark-overlap count of the run
summary and `codeclm report` shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeclm.models.config import ProgramConfig
from codeclm.errors import CodecLMError
from codeclm.evaluation.benchmarks import Source
from codeclm.seeds.readers import bundled_split
from codeclm.seeds.splits import SPLIT_RULE


class SeedLeakError(CodecLMError):
    """The benchmark items an eval would score are (some of) the program's seeds."""


def check_seeds(config: ProgramConfig, source: Source) -> dict[str, Any]:
    """The program's seeds as the eval summary records them; SeedLeakError when they hold evaluated items."""
    path = config.resolve(config.seeds.path)
    seeds = bundled_split(path)
    record = {"path": config.seeds.path, "split": str(seeds) if seeds else None}
    if source.split is not None and seeds is not None and seeds.overlaps(source.split):
        name = source.name
        raise SeedLeakError(
            f"{config.source}: seeds.path {config.seeds.path} ({seeds} split) shares instructions with the evaluated "
            f"{source.split} split, so the candidate may be scored on what its data was seeded with; seed with "
            f"benchmark:{name} (its seed split) and evaluate on --benchmark {name} (its test split): {SPLIT_RULE}")
    if source.split is None and seeds is None and Path(path).resolve() == source.path.resolve():
        raise SeedLeakError(
            f"{config.source}: seeds.path {config.seeds.path} is the benchmark file this eval scores; split it into "
            "seed and test files (seed the program with one, evaluate on the other)")
    return record
