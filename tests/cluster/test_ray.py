"""The Ray executor on a Ray instance on this machine (2 CPUs), through the code path a cluster uses.

Same records, dropped items, manifest and calls as the local executor; a killed worker or a killed driver
loses nothing, duplicates nothing and pays no finished call twice; endpoint limits and call budgets hold
across workers. Skipped when the `ray` extra is not installed (pip install -e '.[ray]').

Offline: Ray's processes listen on this machine's interfaces and talk only to each other; pytest's network
guard covers this process's Python sockets, which reach only the stub servers on 127.0.0.1.
Runs against: a real Ray instance on this machine; the models are tests/stub_server.py answering with scripted replies (tests/pipeline_scripts.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")

from fakes import chat_answer, field_value, is_plain, step_from_request, to_plain  # noqa: E402
from pipeline_scripts import half_kept, strong_script  # noqa: E402
from stub_server import StubServer  # noqa: E402

from codeclm.models.config import load_config  # noqa: E402
from codeclm.cluster import RayExecutor  # noqa: E402
from codeclm.output.records import Seed, seed_id  # noqa: E402
from codeclm.run import manifest_path, run  # noqa: E402
from codeclm.programs.session import open_program  # noqa: E402
from codeclm.output.sink import FileSink, OutputState, dropped_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV, SECRET = "CODECLM_RAY_TEST_KEY", "sk-test-RAY0123456789secret"
VLLM_TARGET = "llama-3.1-8b-instruct"  # programs/codeclm_vllm.yaml's target
SEEDS = ["Write a Python function that checks for palindromes.", "Plan a weekend in Rome on a budget.", "Summarize a news article."]


@pytest.fixture(scope="module", autouse=True)
def ray_local():
    """One local Ray instance for the module; workers inherit this environment (the test key included)."""
    os.environ[KEY_ENV] = SECRET
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    os.environ.pop(KEY_ENV, None)


def pipeline(body: dict) -> str:
    """A strong model for strong requests, a weak answer for the target's (by model id, as a Serve ingress routes)."""
    messages = body["messages"]
    target = body["model"].endswith("target") or body["model"] == VLLM_TARGET
    answer = {"response": "target answer"} if target else strong_script(half_kept)(step_from_request(messages), messages)
    return to_plain(answer) if is_plain(messages) else chat_answer(answer)


def write_program(folder: Path, api_base: str, *, concurrency: int = 4, **endpoint) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seeds.txt").write_text("\n".join(SEEDS))
    spec = {"api_base": api_base, "api_key_env": KEY_ENV, "max_tries": 2, **endpoint}
    program = {
        "prompts": str(ROOT / "prompts"),
        "models": {"strong": {"model": "stub-strong", **spec}, "target": {"model": "stub-target", **spec}},
        "seeds": {"path": "seeds.txt"}, "output": "out/data.jsonl",
        "num_metadata": 3, "instructions_per_metadata": 2, "max_iterations": 3, "concurrency": concurrency,
        "judging": {"scheme": "pairwise-1-10", "check": {"enabled": False}},
        "cache": {"path": str(folder / "calls.sqlite")},
    }
    path = folder / "program.yaml"
    path.write_text(yaml.safe_dump(program))
    return path


def rows(path: Path) -> dict[str, dict]:
    lines = path.read_text().splitlines() if path.exists() else []
    by_id = {row["id"]: row for row in map(json.loads, lines)}
    assert len(by_id) == len(lines), f"duplicated id in {path.name}"
    return by_id


def test_same_records_dropped_manifest_and_calls_as_local(tmp_path):
    outputs, manifests, calls = {}, {}, {}
    with StubServer(responder=pipeline) as stub:  # one stub: same models, so the same fingerprint
        for executor in ("threads", "ray"):
            paid = stub.stats()["requests"]
            summary = run(load_config(write_program(tmp_path / executor, stub.url)), executor=executor)
            calls[executor] = stub.stats()["requests"] - paid
            out = Path(summary["output"])
            outputs[executor] = (rows(out), rows(dropped_path(out)))
            manifests[executor] = json.loads(manifest_path(out).read_text())

    (kept, dropped), (ray_kept, ray_dropped) = outputs["threads"], outputs["ray"]
    assert kept and dropped  # "number 2" instructions stay too easy: dropped at the cap
    assert ray_kept == kept and ray_dropped == dropped  # every field, every line
    assert calls["ray"] == calls["threads"]
    local, remote = manifests["threads"], manifests["ray"]
    for field in ("status", "kept", "dropped", "dropped_by_reason", "iterations", "kept_by_source", "answer_guards", "templates",
                  "models", "calls_per_kept_record"):
        assert remote[field] == local[field], field
    assert remote["fingerprint"]["sha256"] == local["fingerprint"]["sha256"]  # an output resumes under either executor
    for counter in ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "failures"):
        assert remote["usage"]["total"][counter] == local["usage"]["total"][counter], counter
    assert remote["usage"]["total"]["calls"] == calls["ray"]  # every worker's calls reached the driver's ledger
    assert remote["executor"] == "ray"
    for path in (tmp_path / "ray").rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_bytes().decode("utf-8", "replace"), path


def test_output_made_locally_resumes_under_ray_with_no_call_paid_again(tmp_path):
    with StubServer(responder=pipeline) as stub:
        config = load_config(write_program(tmp_path, stub.url))
        first = run(config)
        before, paid = rows(Path(first["output"])), stub.stats()["requests"]
        again = run(config, executor="ray")
        assert stub.stats()["requests"] == paid  # the cache (the same sqlite file, through its actor) answered everything
    assert rows(Path(again["output"])) == before
    assert again["usage"]["total"]["calls"] == 0 and again["usage"]["total"]["cache_hits"] > 0


def test_killed_worker_loses_nothing_duplicates_nothing_and_pays_no_finished_call_twice(tmp_path):
    with StubServer(responder=pipeline) as stub:
        reference = run(load_config(write_program(tmp_path / "ref", stub.url)))
        expected, total = rows(Path(reference["output"])), stub.stats()["requests"]

    with StubServer(latency=0.08, responder=pipeline) as stub:
        config = load_config(write_program(tmp_path / "killed", stub.url, concurrency=2))
        out = tmp_path / "killed" / "out" / "data.jsonl"
        seeds = [Seed(id=seed_id(s), text=s) for s in SEEDS]
        out.parent.mkdir(parents=True)
        with open_program(config) as session, RayExecutor(config, session=session) as executor:
            assert len(executor.worker_pids()) == 2  # one item in flight per worker
            victim = executor.worker_pids()[0]
            killed = threading.Event()

            def kill_mid_filter():
                deadline = time.time() + 60
                while stub.stats()["requests"] < total // 2 and time.time() < deadline:
                    time.sleep(0.01)
                os.kill(victim, signal.SIGKILL)
                killed.set()

            killer = threading.Thread(target=kill_mid_filter)
            killer.start()
            session.program(seeds=seeds, executor=executor, sink=FileSink(out, OutputState(out)))
            killer.join()
            assert killed.is_set() and victim not in executor.worker_pids()  # Ray restarted the killed worker
            assert executor.limiter_grants() == {stub.url: 0}  # the slot the killed process held came back
        paid = stub.stats()["requests"]

    assert rows(out) == expected
    assert not dropped_path(out).exists() or rows(dropped_path(out)).keys() == rows(dropped_path(Path(reference["output"]))).keys()
    # Finished calls came from the cache on the retry: at most the one call in flight on the killed worker is paid again.
    assert total <= paid <= total + 1


def test_killed_driver_then_rerun_completes_exactly(tmp_path, ray_local):
    with StubServer(responder=pipeline) as stub:
        reference = run(load_config(write_program(tmp_path / "ref", stub.url)))
        expected, total = rows(Path(reference["output"])), stub.stats()["requests"]

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with StubServer(latency=0.1, responder=pipeline) as stub:
        program = write_program(tmp_path / "run", stub.url, concurrency=2)
        out = tmp_path / "run" / "out" / "data.jsonl"
        command = [sys.executable, "-m", "codeclm.cli", "run", str(program), "--executor", "ray", "--address", ray_local]
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while len(rows(out)) < 2 and time.time() < deadline and first.poll() is None:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_with = len(rows(out)) + len(rows(dropped_path(out)))  # kept and dropped items are both finished
        assert 2 <= killed_with < len(expected) + len(rows(dropped_path(Path(reference["output"])))), "the kill should land mid-run"
        paid_before = stub.stats()["requests"]
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr[-3000:]
        paid = stub.stats()["requests"]

    assert rows(out) == expected
    assert f"{killed_with} finished items" in second.stderr
    # Both runs together: at most the calls in flight when the driver died (one per worker) paid again.
    assert paid_before < paid <= total + 2
    assert SECRET not in second.stdout + second.stderr


def test_endpoint_limits_hold_across_the_whole_cluster(tmp_path):
    """max_concurrency 1 and 600 rpm for the endpoint, 4 items in flight on 2 workers: one request at a time, 10/s overall."""
    seeds = [Seed(id=f"s{i}", text=f"Write a Python function number {i}.") for i in range(12)]
    with StubServer(latency=0.02, responder=pipeline) as stub:
        config = load_config(write_program(tmp_path, stub.url, concurrency=4, max_concurrency=1, rpm=600))
        with open_program(config) as session, RayExecutor(config, session=session, workers=2) as executor:
            outcomes = executor.map("encode", session.program.encode_seed, seeds)
            with pytest.raises(TypeError, match="stage 'encode': the Ray executor runs methods of the program"):
                executor.map("encode", lambda seed: seed, seeds)
        stats, arrivals = stub.stats(), sorted(stub.arrivals)
    assert all(o.ok for o in outcomes) and stats["requests"] == len(seeds)
    assert stats["max_in_flight"] == 1  # one limiter for both workers (two would allow 2)
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert rate <= 10 * 1.1, f"{rate:.1f} requests/s against an rpm of 600"  # per-worker limiters would give ~20/s


def evol_pipeline(body: dict) -> str:
    messages = body["messages"]
    if is_plain(messages):
        return "An answer of several sentences to the instruction, as a strong model writes it."
    if "`evolved_instruction`" in messages[0]["content"]:
        return chat_answer({"evolved_instruction": field_value(messages, "instruction") + " Use at most 50 words."})
    return chat_answer({"created_instruction": "Describe a rare festival in Bhutan."})


def test_evol_instruct_call_budget_is_one_budget_for_all_workers(tmp_path):
    """max_calls 5 at 2 calls per evolution: 2 evolutions in the whole run, whichever workers run them."""
    (tmp_path / "seeds.txt").write_text("\n".join(SEEDS))
    with StubServer(latency=0.05, responder=evol_pipeline) as stub:
        overrides = [f"models.strong={{model: stub-strong, api_base: '{stub.url}'}}", "models.target={model: stub-strong, api_base: "
                     f"'{stub.url}'}}", f"seeds.path={tmp_path / 'seeds.txt'}", "seeds.limit=null", f"output={tmp_path / 'out.jsonl'}",
                     f"cache.path={tmp_path / 'calls.sqlite'}", "evol_instruct.max_calls=5", "evol_instruct.rounds=2",
                     "concurrency=3"]
        summary = run(load_config(ROOT / "programs" / "evol_instruct.yaml", overrides), executor="ray")
        paid = stub.stats()["requests"]
    assert summary["kept"] == 2 and paid == 4
    assert summary["dropped_by_reason"] == {"filtered at budget": 4}  # 1 seed in round 1, all 3 in round 2


def test_a_worker_that_cannot_open_the_program_says_why(tmp_path, monkeypatch):
    config = load_config(write_program(tmp_path, "http://127.0.0.1:9/v1"),
                         ["models.strong.api_key_env=CODECLM_RAY_TEST_UNSET"])
    monkeypatch.setenv("CODECLM_RAY_TEST_UNSET", "set on the driver only")  # workers started without it
    from codeclm.cluster import WorkerStartError

    with RayExecutor(config, workers=1) as executor, pytest.raises(
            WorkerStartError, match=r"could not open the program: .*models.strong.api_key_env: environment variable "
                                    r"CODECLM_RAY_TEST_UNSET is not set"):
        executor.wait_ready()


def test_vllm_program_runs_through_ray_against_an_openai_compatible_stand_in(tmp_path):
    """programs/codeclm_vllm.yaml as shipped, but its Serve endpoint is a stub (this machine has no GPU, so no vLLM):
    only the endpoint address, sizes and files are overridden; the model ids are the Serve config's."""
    serve = yaml.safe_load((ROOT / "deploy" / "ray-serve-vllm.yaml").read_text())
    served = {c["model_loading_config"]["model_id"] for app in serve["applications"] for c in app["args"]["llm_configs"]}
    shipped = load_config(ROOT / "programs" / "codeclm_vllm.yaml")
    assert {shipped.models.strong.model, shipped.models.target.model} == served
    assert shipped.models.strong.api_base == shipped.models.target.api_base  # one Serve ingress, routed by model id
    assert shipped.models.target.model == VLLM_TARGET

    (tmp_path / "seeds.txt").write_text("\n".join(SEEDS))
    with StubServer(responder=pipeline) as stub:
        overrides = [f"models.strong.api_base={stub.url}", f"models.target.api_base={stub.url}", f"seeds.path={tmp_path / 'seeds.txt'}",
                     f"output={tmp_path / 'out.jsonl'}", f"cache.path={tmp_path / 'calls.sqlite'}", "num_metadata=2",
                     "max_iterations=2", "concurrency=4", "judging.check.enabled=false"]
        summary = run(load_config(ROOT / "programs" / "codeclm_vllm.yaml", overrides), executor="ray")
        seen = {body["model"] for body in stub.bodies}
    assert summary["status"] == "finished" and summary["kept"] >= 1
    assert seen == served
    assert summary["models"] == {"strong": "openai/qwen2.5-72b-instruct", "target": f"openai/{VLLM_TARGET}",
                                 "judge": "openai/qwen2.5-72b-instruct"}
