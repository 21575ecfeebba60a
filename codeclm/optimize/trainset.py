"""Examples from the benchmark split: metadata encoded by the program's own Encode step.

The optimization part's first `fit_pool` instructions are encoded (cached calls: a rerun pays
nothing) into the benchmark-fit reference; its first `train` distinct metadata are the
optimizer's examples. The held-out part's first `heldout` instructions are encoded into the
held-out examples for the before/after figures; a held-out metadata equal to a training one is
dropped, so the figures are measured on inputs the optimizer never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dspy

from codeclm.models.config import OptimizeSettings
from codeclm.errors import OptimizeError
from codeclm.evaluation.benchmarks import BenchmarkItem
from codeclm.executors import Executor
from codeclm.optimize.split import BenchmarkSplit
from codeclm.output.records import content_id
from codeclm.steps.signatures import Metadata


@dataclass
class Examples:
    train: list[dspy.Example]
    heldout: list[dspy.Example]
    pool: list[Metadata]
    encode_failures: list[str] = field(default_factory=list)


def example_of(metadata: Metadata, source: str) -> dspy.Example:
    """One chain input: a metadata, keyed by its content (so its calls are cached across runs)."""
    return dspy.Example(metadata=metadata, key=content_id("opt-m", metadata.key()), source=source).with_inputs("metadata", "key")


def encode_items(program: dspy.Module, benchmark: str, items: list[BenchmarkItem], executor: Executor,
                 failures: list[str]) -> list[tuple[str, Metadata]]:
    """(item id, metadata) of each item that encodes; failures are noted, not fatal."""
    outcomes = executor.map("encode benchmark", lambda it: program.encode(instruction=it.instruction, key=f"bench:{benchmark}:{it.id}"), items)
    failures += [f"{o.item.id}: {o.error}" for o in outcomes if not o.ok]
    return [(o.item.id, o.value) for o in outcomes if o.ok]


def build_examples(program: dspy.Module, split: BenchmarkSplit, settings: OptimizeSettings, executor: Executor) -> Examples:
    failures: list[str] = []
    pooled = encode_items(program, split.name, split.optimization[: max(settings.fit_pool, settings.train)], executor, failures)
    train: dict[str, dspy.Example] = {}
    for item_id, metadata in pooled:
        if len(train) < settings.train:
            train.setdefault(metadata.key(), example_of(metadata, item_id))
    heldout: dict[str, dspy.Example] = {}
    for item_id, metadata in encode_items(program, split.name, split.heldout[: settings.heldout], executor, failures):
        if metadata.key() not in train:
            heldout.setdefault(metadata.key(), example_of(metadata, item_id))
    if not train or not heldout:
        detail = f"; encode failures: {'; '.join(failures)[:300]}" if failures else ""
        raise OptimizeError(f"benchmark {split.name}: {len(train)} training and {len(heldout)} held-out metadata could be "
                            f"encoded (need at least 1 each: raise --train / --heldout or check the strong model){detail}")
    return Examples(list(train.values()), list(heldout.values()), [m for _, m in pooled], failures)
