"""Local executor vs Ray executor: the same CodecLM program, the same stub, equal concurrency.

A stub OpenAI-compatible server runs in its own process with a fixed latency (default 300 ms, an
API's typical reply time) and answers every CodecLM step (encode, decode, rubrics, improve, respond,
judge), so each instruction costs 9 sequential calls (it is kept at Self-Rubrics iteration 2).
Each run opens the program with a fresh call cache (every call paid) and maps all stages with:

  threads  ThreadExecutor(C) in this process (the default `--executor threads`)
  ray      RayExecutor(concurrency=C) on a local Ray instance started once (as a running cluster is):
           2 worker actors x C/2 items each, cluster-wide cache actor and endpoint limiter actors

After one untimed warm-up run of each (imports, first connections), repeats run both, back to back,
alternating which goes first, and each repeat's ratio uses that repeat's threads wall time, so load from
other work on the machine hits A and B alike. Reported per run:
`stages` (the program's stages; for Ray: the workers already up) and `total` (+ Ray's worker start), and
this process's CPU time per call (local: all the work; Ray: the driver's share, which bounds how many
calls one driver can feed).
Both must write the same records and make the same number of calls. `--parts` also times the shared
actors one call at a time (limiter acquire+release, cache get, cache put) from a worker.

    .venv/bin/python benchmarks/executors.py --metadata 80 --concurrency 16 --latency 0.3 --repeats 3 --parts
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
warnings.filterwarnings("ignore", category=DeprecationWarning)

SEEDS = ["Write a Python function that checks for palindromes.", "Plan a weekend in Rome on a budget.",
         "Summarize a news article about climate policy.", "Explain TCP slow start to a new engineer."]
SKILLS = ["python", "planning", "summarizing", "networking", "reasoning", "writing"]


def respond(body: dict) -> str:
    """Every CodecLM step as a strong (or target) model would answer it; distinct metadata per seed."""
    from fakes import chat_answer, field_value, is_plain, step_from_request, to_plain
    from pipeline_scripts import harder_wins, strong_script

    messages = body["messages"]
    step = step_from_request(messages)
    if body["model"].endswith("target"):
        answer = {"response": "target answer"}
    elif step == "encode":
        text = field_value(messages, "instruction")
        answer = {"use_case": text.split()[0].lower() + " tasks", "skills": [SKILLS[(len(text) + i) % len(SKILLS)] for i in range(3)]}
    else:
        answer = strong_script(harder_wins)(step, messages)
    return to_plain(answer) if is_plain(messages) else chat_answer(answer)


def serve(latency: float) -> None:
    from stub_server import StubServer

    stub = StubServer(latency, responder=respond).start()
    print(stub.url, flush=True)
    while True:
        time.sleep(3600)


def stub_call(url: str, path: str, method: str = "GET") -> dict:
    request = urllib.request.Request(f"{url}/{path}", method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())


def program_config(url: str, folder: Path, metadata: int, concurrency: int):
    import yaml

    from codeclm.models.config import load_config

    (folder / "seeds.txt").write_text("\n".join(SEEDS))
    spec = {"api_base": url, "max_concurrency": 4 * concurrency, "max_tries": 2}
    program = {"prompts": str(ROOT / "prompts"), "seeds": {"path": "seeds.txt"}, "output": "out.jsonl",
               "models": {"strong": {"model": "stub-strong", **spec}, "target": {"model": "stub-target", **spec}},
               "num_metadata": metadata, "instructions_per_metadata": 2, "max_iterations": 3, "concurrency": concurrency,
               "judging": {"scheme": "pairwise-1-10", "check": {"enabled": False}},
               "cache": {"path": str(folder / "calls.sqlite")}}
    (folder / "program.yaml").write_text(yaml.safe_dump(program))
    return load_config(folder / "program.yaml")


def one_run(kind: str, url: str, metadata: int, concurrency: int) -> dict:
    from codeclm.executors import ThreadExecutor
    from codeclm.cluster import RayExecutor
    from codeclm.output.records import Seed, seed_id
    from codeclm.programs.session import open_program
    from codeclm.output.sink import MemorySink

    seeds = [Seed(id=seed_id(s), text=s) for s in SEEDS]
    with tempfile.TemporaryDirectory() as tmp:
        config = program_config(url, Path(tmp), metadata, concurrency)
        stub_call(url, "reset", "POST")
        with open_program(config) as session:
            cpu, start = time.process_time(), time.perf_counter()
            executor = RayExecutor(config, session=session) if kind == "ray" else ThreadExecutor(concurrency)
            if kind == "ray":
                executor.wait_ready()
            ready = time.perf_counter()
            sink = MemorySink()
            try:
                session.program(seeds=seeds, executor=executor, sink=sink)
            finally:
                if kind == "ray":
                    executor.close()
            end, cpu = time.perf_counter(), time.process_time() - cpu
            calls = session.engine.ledger.summary()["total"]["calls"]
    stats = stub_call(url, "stats")
    records = sorted((r.id, r.instruction, r.response, r.iteration) for r in sink.records)
    return {"stages": end - ready, "total": end - start, "start": ready - start, "records": records, "cpu": cpu,
            "calls": calls, "requests": stats["requests"], "max_in_flight": stats["max_in_flight"]}


def parts(url: str, n: int) -> dict:
    """Per-call cost of the shared actors, seen from a worker process: ms per limiter grant, cache get, cache put."""
    import ray

    from codeclm.cluster.cache import start_cache_service
    from codeclm.cluster.connect import driver_node
    from codeclm.cluster.limits import LimiterRegistry

    @ray.remote(num_cpus=0)
    def time_calls(cache, registry, n):
        from codeclm.cluster.cache import ClusterCache
        from codeclm.cluster.limits import cluster_limiter_for

        limiter = cluster_limiter_for(registry, ("bench", "1"))(url, 64, None, None)
        cache = ClusterCache(cache)
        out = {}
        start = time.perf_counter()
        for _ in range(n):
            with limiter.acquire(100):
                pass
        out["limiter acquire+release"] = (time.perf_counter() - start) / n * 1000
        start = time.perf_counter()
        for i in range(n):
            cache.put(f"k{i}", {"choices": [{"message": {"content": "x" * 500}}]}, {"role": "strong"})
        out["cache put (committed)"] = (time.perf_counter() - start) / n * 1000
        start = time.perf_counter()
        for i in range(n):
            cache.get(f"k{i}")
        out["cache get"] = (time.perf_counter() - start) / n * 1000
        return out

    with tempfile.TemporaryDirectory() as tmp:
        cache = start_cache_service(Path(tmp) / "calls.sqlite", driver_node(), "bench-cache")
        registry = ray.remote(num_cpus=0)(LimiterRegistry).options(name="bench-limiters").remote(8)
        try:
            return ray.get(time_calls.remote(cache, registry, n))
        finally:
            ray.kill(cache)
            ray.kill(registry)


def main() -> None:
    parser = argparse.ArgumentParser(description="local vs Ray executor on the same program and stub")
    parser.add_argument("--metadata", type=int, default=80, help="num_metadata (2 instructions each, 9 calls per instruction)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.3, help="stub seconds per request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", action="store_true", help="also time the shared actors per call")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.latency)

    import ray

    stub = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True)
    url = stub.stdout.readline().strip()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for kind in ("threads", "ray"):  # warm-up, untimed: the first run in a process pays for imports and connections
            one_run(kind, url, 4, args.concurrency)
        rows = []
        for repeat in range(args.repeats):
            order = ("threads", "ray") if repeat % 2 == 0 else ("ray", "threads")
            result = {kind: one_run(kind, url, args.metadata, args.concurrency) for kind in order}
            local, remote = result["threads"], result["ray"]
            assert remote["records"] == local["records"], "the executors wrote different records"
            assert remote["requests"] == local["requests"] == local["calls"] == remote["calls"], (local["requests"], remote["requests"])
            rows.append((repeat, order, local, remote))
        print(f"\nCodecLM on a stub: {args.metadata} metadata x 2 instructions, {len(local['records'])} records, "
              f"{local['requests']} calls per run, {args.latency * 1000:.0f} ms per call, concurrency {args.concurrency} "
              f"(Ray: 2 workers x {args.concurrency // 2}); machine: {os.cpu_count()} CPUs")
        print(f"{'repeat':>6} {'first':>7} {'threads s':>9} {'ray stages s':>13} {'ray start s':>12} {'stages ratio':>13} "
              f"{'total ratio':>12} {'max in flight':>14} {'CPU ms/call threads, ray driver':>32}")
        for repeat, order, local, remote in rows:
            print(f"{repeat:>6} {order[0]:>7} {local['total']:>9.2f} {remote['stages']:>13.2f} {remote['start']:>12.2f} "
                  f"{remote['stages'] / local['total']:>13.3f} {remote['total'] / local['total']:>12.3f} "
                  f"{local['max_in_flight']:>6}/{remote['max_in_flight']:<7} "
                  f"{local['cpu'] * 1000 / local['calls']:>14.2f}, {remote['cpu'] * 1000 / remote['calls']:.2f}")
        stages = [r['stages'] / t['total'] for _, _, t, r in rows]
        totals = [r['total'] / t['total'] for _, _, t, r in rows]
        print(f"median ratio ray/threads: stages {statistics.median(stages):.3f}, total with worker start {statistics.median(totals):.3f} "
              f"(target: <= 1.10)")
        if args.parts:
            print("\nshared actors, ms per call from a worker: " + ", ".join(f"{k} {v:.2f}" for k, v in parts(url, 500).items()))
    finally:
        ray.shutdown()
        stub.terminate()


if __name__ == "__main__":
    main()
