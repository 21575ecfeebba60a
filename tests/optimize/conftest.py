"""Fixtures of the optimize tests: the scripted world's benchmark file and a small program config."""

import json

import pytest
from optimize_world import BENCHMARK

from codeclm.models.config import load_config

# Small budgets: 4 training and 4 held-out metadata, 2 instructions each; no filter check (tested on its own).
OVERRIDES = ["judging.check.enabled=false", "instructions_per_metadata=2", "max_iterations=2",
             "optimize.train=4", "optimize.heldout=4", "optimize.gepa_max_metric_calls=12", "concurrency=1"]


@pytest.fixture
def benchmark_file(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in BENCHMARK))
    return path


@pytest.fixture
def world_config(root, tmp_path):
    def make(*extra: str):
        return load_config(root / "programs" / "codeclm.yaml", [*OVERRIDES, f"cache.path={tmp_path / 'calls.sqlite'}", *extra])

    return make
