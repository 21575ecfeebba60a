"""Crash safety, end to end: `codeclm run` killed with SIGKILL mid-run, rerun, against a stub server.

The rerun must finish with no duplicated and no missing records, and must not pay again for
calls that had finished before the kill (the persistent call cache answers them).
Runs against: tests/stub_server.py (scripted replies: a fake, not a model) and a killed subprocess.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fakes import step_from_request as step_of
from pipeline_scripts import harder_wins, strong_script
from stub_server import StubServer

from codeclm.models.config import load_config
from codeclm.run import run
from codeclm.output.sink import dropped_path

SECRET = "sk-test-ABCDEF0123456789secret"
SEEDS = ["Write a Python function that checks for palindromes.", "Plan a weekend in Rome on a budget.", "Summarize a news article."]


def respond_as_pipeline(body: dict) -> str:
    """Strong model for strong requests, a weak answer for the target's."""
    messages = body["messages"]
    if body["model"].endswith("target"):
        answer = {"response": "target answer"}
    else:
        answer = strong_script(harder_wins)(step_of(messages), messages)
    from fakes import chat_answer, is_plain, to_plain

    return to_plain(answer) if is_plain(messages) else chat_answer(answer)


def write_program(tmp_path: Path, api_base: str, cache: Path) -> Path:
    (tmp_path / "seeds.txt").write_text("\n".join(SEEDS))
    endpoint = {"api_base": api_base, "api_key_env": "CODECLM_TEST_KEY", "max_tries": 2}
    program = {
        "prompts": str(Path(__file__).resolve().parent.parent / "prompts"),
        "models": {"strong": {"model": "stub-strong", **endpoint}, "target": {"model": "stub-target", **endpoint}},
        "seeds": {"path": "seeds.txt"},
        "output": "out/data.jsonl",
        "num_metadata": 3, "instructions_per_metadata": 2, "max_iterations": 3, "concurrency": 1,
        "judging": {"scheme": "pairwise-1-10", "check": {"enabled": False}},
        "cache": {"path": str(cache)},
    }
    path = tmp_path / "program.yaml"
    path.write_text(yaml.safe_dump(program))
    return path


def records(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows), "duplicated record"
    return by_id


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("CODECLM_TEST_KEY", SECRET)
    return {**os.environ, "CODECLM_TEST_KEY": SECRET, "PYTHONUNBUFFERED": "1"}


def test_sigkill_mid_run_then_rerun_completes_exactly(tmp_path, env):
    # Reference: the same program, uninterrupted, in-process.
    with StubServer(responder=respond_as_pipeline) as stub:
        ref_dir = tmp_path / "ref"
        ref_dir.mkdir()
        summary = run(load_config(write_program(ref_dir, stub.url, ref_dir / "calls.sqlite")))
        reference, total_calls = records(Path(summary["output"])), stub.stats()["requests"]
    assert len(reference) == 6

    with StubServer(latency=0.15, responder=respond_as_pipeline) as stub:
        program = write_program(tmp_path, stub.url, tmp_path / "calls.sqlite")
        out = tmp_path / "out" / "data.jsonl"
        command = [sys.executable, "-m", "codeclm.cli", "run", str(program)]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while len(records(out)) < 2 and time.time() < deadline and first.poll() is None:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_with = len(records(out))
        assert 2 <= killed_with < 6, "the kill should land mid-run"
        calls_before = stub.stats()["requests"]

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr[-2000:]
        calls_after = stub.stats()["requests"] - calls_before

    final = records(out)
    assert final.keys() == reference.keys()
    for key, row in final.items():
        assert (row["instruction"], row["response"], row["iteration"]) == (
            reference[key]["instruction"], reference[key]["response"], reference[key]["iteration"])
    # Finished calls were not paid twice: both halves together cost at most one call
    # more than the uninterrupted run (the one in flight when the process died).
    assert calls_before + calls_after <= total_calls + 1
    assert "Resuming" in second.stderr and f"{killed_with} finished items" in second.stderr
    for path in (out, dropped_path(out), out.with_name("data.manifest.json"), tmp_path / "calls.sqlite"):
        if path.exists():
            assert SECRET not in path.read_bytes().decode("utf-8", "replace"), path
    assert SECRET not in second.stdout + second.stderr
