"""`codeclm run --trace mlflow`: every DSPy module call traced through mlflow.dspy.autolog; off by default.

Runs against: a cassette recorded from real local models (tests/test_pipeline_cassette.py's: Qwen2.5-Coder-1.5B,
SmolLM2-135M), replayed; mlflow's local sqlite store.
"""

from __future__ import annotations

import sys
import types

import dspy
import pytest
import vcr

from codeclm.cli import main
from view.cassette_runs import CASSETTE, OVERRIDES, ROOT


@pytest.fixture
def restore_dspy():
    """autolog adds a callback and usage tracking to DSPy's global settings: put them back after the test."""
    callbacks, usage = list(dspy.settings.callbacks), dspy.settings.track_usage
    yield
    dspy.settings.configure(callbacks=callbacks, track_usage=usage)


def run_cli(tmp_path, *extra):
    args = ["run", str(ROOT / "programs" / "codeclm.yaml"), "--out", str(tmp_path / "data.jsonl"),
            *[a for o in OVERRIDES + [f"cache.path={tmp_path / 'calls.sqlite'}"] for a in ("--set", o)], *extra]
    replay = vcr.VCR(record_mode="none", match_on=["method", "path", "body"], decode_compressed_response=True)
    with replay.use_cassette(str(CASSETTE)):
        return main(args)


def test_run_traces_every_module_call_into_mlflow(tmp_path, monkeypatch, restore_dspy):
    mlflow = pytest.importorskip("mlflow", reason="needs the trace extra (mlflow)")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert run_cli(tmp_path, "--trace", "mlflow") == 0
    mlflow.flush_trace_async_logging()  # the command's process would flush at exit
    uri = f"sqlite:///{tmp_path / 'data.mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("codeclm")
    traces = client.search_traces(locations=[experiment.experiment_id], max_results=500)
    assert len(traces) == 1  # one trace per run: the program's call, every step call nested in it
    spans = traces[0].data.spans
    names = [s.name for s in spans]
    assert spans[0].name == "CodecLM.forward" and spans[0].parent_id is None
    # the recorded run: 2 encodes, 2 decodes, and 4 instructions each answered by the strong model and scored by the target
    assert names.count("Encode.forward") == 2 and names.count("Decode.forward") == 2, names
    assert names.count("Respond.forward") == 4 and names.count("TargetLossJudge.forward") == 4, names
    lm_spans = [s for s in spans if s.span_type == "CHAT_MODEL"]
    assert lm_spans and all(s.inputs for s in lm_spans)  # each LM call with its messages


def test_without_trace_nothing_is_traced(tmp_path, restore_dspy):
    before = list(dspy.settings.callbacks)
    assert run_cli(tmp_path) == 0
    assert dspy.settings.callbacks == before and not (tmp_path / "data.mlflow.db").exists()


def test_trace_without_mlflow_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if the trace extra were not installed
    assert run_cli(tmp_path, "--trace", "mlflow") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'codeclm[trace]'" in err
    assert not (tmp_path / "data.jsonl").exists()  # refused before anything ran


def test_the_wiring_on_a_fake_mlflow(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("mlflow")
    fake.set_tracking_uri = lambda uri: calls.append(("uri", uri))
    fake.set_experiment = lambda name: calls.append(("experiment", name))
    fake.dspy = types.SimpleNamespace(autolog=lambda **kw: calls.append(("autolog", kw)))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setitem(sys.modules, "mlflow.dspy", fake.dspy)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    from codeclm.console.tracing import start_tracing

    assert start_tracing("mlflow", tmp_path / "x.jsonl", experiment="mine") == "http://127.0.0.1:5000"
    assert calls == [("uri", "http://127.0.0.1:5000"), ("experiment", "mine"), ("autolog", {"silent": True})]
