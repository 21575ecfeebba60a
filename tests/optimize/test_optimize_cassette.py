"""Each optimizer with a tiny budget on the wire (engine, cache, ledger, HTTP), replayed from cassettes.

Recorded against tests/optimize/world_server.py: the scripted world (tests/optimize/optimize_world.py)
served as an OpenAI-compatible server on 127.0.0.1, NOT real models (a real MIPROv2 run does not fit
the 2-core machine's test budget; docs/optimize.md has the real-model figures). To re-record:
    CODECLM_RECORD=1 pytest -o addopts="" --record-mode=rewrite tests/optimize/test_optimize_cassette.py
Runs against: cassettes recorded from tests/optimize/world_server.py (the scripted world on the wire: a fake, not real models).
"""

import json
import os
from collections import Counter

import pytest
from optimize_world import CUT, EASY, GOOD, TUNED_MARK, WORSE_MARK
from world_server import WorldServer

from codeclm.models.config import load_config
from codeclm.evaluation.benchmarks import load_benchmark
from codeclm.optimize import LeakGuard, OptimizeMetric, optimize, split_benchmark
from codeclm.programs.session import open_program
from codeclm.steps.signatures import Metadata
from codeclm.programs.tuned import load_tuned

OVERRIDES = ["judging.check.enabled=false", "instructions_per_metadata=2", "max_iterations=2", "concurrency=1",
             "optimize.train=4", "optimize.heldout=3", "optimize.fit_pool=6", "optimize.gepa_max_metric_calls=10",
             "optimize.demos=2"]
PROBE = Metadata(use_case="database queries", skills=["joins", "window functions"])


@pytest.fixture
def api_base(recorded_api_base):
    if os.environ.get("CODECLM_RECORD"):
        with WorldServer() as url:
            yield url
    else:
        yield recorded_api_base


def config_for(root, api_base, cache, *extra):
    models = [f"models.strong={{model: world-strong, api_base: '{api_base}', max_tries: 1}}",
              f"models.target={{model: world-target, api_base: '{api_base}', max_tries: 1, chat_template: chatml}}"]
    return load_config(root / "programs" / "codeclm.yaml", [*OVERRIDES, *models, f"cache.path={cache}", *extra])


def wire_bodies(cassette, action) -> list[dict]:
    """The request bodies `action` sent on the wire (replayed, or recorded while recording)."""
    played, recorded = Counter(cassette.play_counts), len(cassette.data)
    action()
    new = [i for i in cassette.play_counts if cassette.play_counts[i] > played[i]] + list(range(recorded, len(cassette.data)))
    return [json.loads(cassette.data[i][0].body) for i in new]


@pytest.mark.vcr
@pytest.mark.parametrize("optimizer", ["bootstrap", "mipro", "gepa"])
def test_optimizer_replayed(optimizer, root, api_base, benchmark_file, tmp_path, vcr):
    if optimizer == "mipro":
        pytest.importorskip("optuna")
    config = config_for(root, api_base, tmp_path / "calls.sqlite")
    out = tmp_path / f"{optimizer}.tuned.json"
    result = optimize(config, benchmark=str(benchmark_file), optimizer=optimizer, out=out)
    assert result.calls > 0 and result.phases["optimize"]["calls"] > 0  # calls spent are counted per phase
    assert result.comparison.after > result.comparison.before

    # The saved file loads, and a program opened with it sends other requests than the templates do.
    def decode_probe(tuned):
        probe_config = config_for(root, api_base, tmp_path / f"probe-{bool(tuned)}.sqlite")
        with open_program(probe_config, tuned=tuned) as session:
            return wire_bodies(vcr, lambda: session.program.decode(metadata=PROBE, key="probe"))

    template, tuned = decode_probe(None), decode_probe(out)
    assert len(template) == len(tuned) == 1 and template[0]["messages"] != tuned[0]["messages"]
    sent = json.dumps(tuned[0]["messages"])
    assert WORSE_MARK not in sent  # the world proposed worse instructions too (mipro, gepa): never the one kept
    if optimizer == "bootstrap":
        assert "python programming" in sent  # a bootstrapped demo
    else:
        assert TUNED_MARK in sent  # a proposed instruction

    # The metric ranks known good and bad instructions on the same endpoints.
    with open_program(config, tuned=out) as session:
        assert load_tuned(session.program, out) == session.program.tuned
        name, items = load_benchmark(str(benchmark_file))
        parts = split_benchmark(name, items, 0.5, config.seed)
        pool = [session.program.encode(instruction=i.instruction, key=f"bench:{name}:{i.id}") for i in parts.optimization]
        metric = OptimizeMetric(session.program, pool=pool, guard=LeakGuard(parts.heldout, {}), settings=config.optimize)
        good, easy, cut, copy = (metric.assess_one(t, {}, []) for t in (GOOD, EASY, CUT, parts.heldout[0].instruction))
        assert good.score > easy.score > cut.score == copy.score == 0.0
        assert good.kept and not easy.kept and cut.guard == "cut_off" and copy.leak.source == "held-out"
