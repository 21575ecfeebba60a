"""Opt-in tracing of every DSPy module call (`codeclm run --trace mlflow`), through DSPy's own MLflow integration.

`mlflow.dspy.autolog()` adds MLflow's callback to DSPy's settings: each step call (Encode, Decode,
Self-Rubrics, Improve, Respond, the judge) becomes a trace with its inputs and outputs, the adapter's
formatting and parsing, and every LM call under it with its messages, reply and token usage. Traces
go to `MLFLOW_TRACKING_URI` when set, else to a SQLite file beside the output; `mlflow ui
--backend-store-uri <that URI>` shows them. Off by default; without it nothing of MLflow is imported.
MLflow's own usage telemetry is turned off (MLFLOW_DISABLE_TELEMETRY) unless the environment sets it.
"""

from __future__ import annotations

import os
from pathlib import Path

from codeclm.errors import ConfigError

TRACERS = ("mlflow",)
EXPERIMENT = "codeclm"


def default_uri(output: str | Path) -> str:
    """A SQLite tracking store beside the output: data/x.jsonl -> sqlite:///data/x.mlflow.db (absolute)."""
    output = Path(output).resolve()
    return f"sqlite:///{output.with_name(output.stem + '.mlflow.db')}"


def start_tracing(tracer: str, output: str | Path, experiment: str = EXPERIMENT) -> str:
    """Trace every DSPy module call from here on into MLflow; returns the tracking URI the traces go to."""
    if tracer not in TRACERS:
        raise ConfigError(f"--trace {tracer}: unknown tracer; choose from {', '.join(TRACERS)}")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # traces stay where the URI says; nothing else leaves
    try:
        import mlflow
        import mlflow.dspy
    except ImportError:
        raise ConfigError("--trace mlflow needs MLflow: pip install 'codeclm[trace]' (or run without --trace)") from None
    uri = os.environ.get("MLFLOW_TRACKING_URI") or default_uri(output)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    mlflow.dspy.autolog(silent=True)
    return uri
