"""The CodecLM program end to end through `--executor batch`, against a stub with OpenAI's Batch API.

The strong model (and the judge, which defaults to it) answers through batches; the target is a
plain OpenAI-compatible endpoint with no batch API, so its calls go out directly in each round.
Scripted answers make iteration 1 too easy and iteration 2 kept, so items need many rounds. The
records must equal the thread executor's, the strong model must cost half, and a rerun must
submit nothing.
Runs against: a stub server with OpenAI's Batch API (openai_batch_stub.py) answering with scripted replies: a fake, not a model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fakes import chat_answer, is_plain, step_from_request, to_plain
from openai_batch_stub import OpenAIBatchStub
from pipeline_scripts import harder_wins, strong_script
from stub_server import StubServer

from codeclm.models.config import load_config
from codeclm.run import run
from codeclm.output.sink import dropped_path

SECRET = "sk-test-batch-pipeline-0123456789"
SEEDS = ["Write a Python function that checks for palindromes.", "Plan a weekend in Rome on a budget."]


def respond(body: dict) -> str:
    messages = body["messages"]
    answer = {"response": "target answer"} if body["model"] == "stub-target" else strong_script(harder_wins)(
        step_from_request(messages), messages)
    return to_plain(answer) if is_plain(messages) else chat_answer(answer)


def program(tmp_path: Path, api_base: str, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "seeds.txt").write_text("\n".join(SEEDS))
    endpoint = {"api_base": api_base, "api_key_env": "CODECLM_TEST_KEY", "max_tries": 1,
                "price_in_per_1m": 1.0, "price_out_per_1m": 4.0}
    data = {
        "prompts": str(Path(__file__).resolve().parents[2] / "prompts"),
        "models": {"strong": {"model": "stub-strong", "batch_api": "openai", **endpoint},
                   "target": {"model": "stub-target", **endpoint}},
        "seeds": {"path": "seeds.txt"}, "output": "out/data.jsonl", "cache": {"path": str(folder / "calls.sqlite")},
        "num_metadata": 2, "instructions_per_metadata": 2, "max_iterations": 3, "concurrency": 2,
        "judging": {"scheme": "pairwise-1-10", "check": {"enabled": False}},
    }
    path = folder / "program.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def rows(path: Path) -> list[dict]:
    return sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda r: r["id"]) if path.exists() else []


def test_codeclm_through_openai_batches_writes_the_records_of_the_thread_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("CODECLM_TEST_KEY", SECRET)
    with StubServer(responder=respond) as direct:
        reference = run(load_config(program(tmp_path, direct.url, "threads")))
    with OpenAIBatchStub(responder=respond) as stub:
        summary = run(load_config(program(tmp_path, stub.url, "batch")), executor="batch", poll_seconds=0)
        strong_direct = [b for b in stub.bodies if b["model"] == "stub-strong"]
        target_direct = [b for b in stub.bodies if b["model"] == "stub-target"]
        created = stub.created_batches
        rerun = run(load_config(tmp_path / "batch" / "program.yaml"), executor="batch", poll_seconds=0)
        assert stub.created_batches == created  # everything was cached: nothing submitted again

    out, ref_out = Path(summary["output"]), Path(reference["output"])
    assert rows(out) and rows(out) == rows(ref_out)
    assert rows(dropped_path(out)) == rows(dropped_path(ref_out))
    assert created >= 6 and stub.batch_lines > 0  # encode, rubrics, decode, then several rounds per instruction
    assert strong_direct == [] and target_direct  # strong only through batches; the target directly

    usage, ref_usage = summary["usage"]["roles"], reference["usage"]["roles"]
    for role in ("strong", "judge"):
        assert usage[role]["batch_calls"] == usage[role]["calls"] == ref_usage[role]["calls"] > 0
        assert usage[role]["cost"] == pytest.approx(ref_usage[role]["cost"] / 2)  # same tokens, batch price
    for role in ("strong", "judge", "target"):  # items replayed after each batch are not counted as cache hits
        assert usage[role]["cache_hits"] == ref_usage[role]["cache_hits"]
    assert usage["target"]["batch_calls"] == 0 and usage["target"]["cost"] == pytest.approx(ref_usage["target"]["cost"])
    assert summary["answer_guards"] == reference["answer_guards"]  # replays did not count answers twice
    assert summary["executor"] == "batch" and rerun["kept"] == summary["kept"]
    for path in (out, dropped_path(out), out.with_name("data.manifest.json"), tmp_path / "batch" / "calls.sqlite"):
        assert SECRET not in path.read_bytes().decode("utf-8", "replace"), path
