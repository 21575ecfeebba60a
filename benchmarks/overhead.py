"""Overhead of EngineLM's two paths against a raw concurrent HTTP client, on a fixed-latency stub.

The stub runs in its own process (so it does not share the clients' GIL) with a fixed
latency. N distinct chat requests go out at concurrency C through:

  raw      httpx.Client, one pooled client, C threads (the floor)
  direct   EngineLM on its direct httpx path: fresh sqlite cache (every call a miss + put),
           limiter at C, ledger, retries armed
  litellm  the same EngineLM forced onto litellm (transport="litellm"), as every call went before
  dspy.LM  plain dspy.LM(engine="litellm"), no cache, no retries (only with --with-dspy)

Each repeat runs every client once, back to back, in a rotated order, and its ratios use
that repeat's raw wall time, so load from other work on the machine hits A and B alike.
Printed per client and repeat: wall seconds, wall / raw, and the stub's busy share,
sum over requests of in-server seconds / (wall * C) — 1.0 means the server always had C
requests in progress; also client CPU ms per request (all threads, process time), which
is what the GIL serializes. Targets for the direct path: wall / raw <= 1.05, busy >= 0.95.

    .venv/bin/python benchmarks/overhead.py --n 200 --concurrency 8 --latency 0.05 0.5 --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", category=DeprecationWarning)


def start_stub(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "stub_server.py"), "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def stub_call(url: str, path: str, method: str = "GET") -> dict:
    request = urllib.request.Request(f"{url}/{path}", method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())


def timed(url: str, concurrency: int, fn, items) -> dict:
    """Run ``fn`` over ``items`` on ``concurrency`` threads: wall, stub busy share, client CPU per request.

    A full garbage collection runs first, outside the timing: with dspy and litellm loaded it
    takes ~130 ms here, and the harness's own allocations (the request lists) would otherwise
    trigger one inside whichever client's run happens to come next."""
    gc.collect()
    stub_call(url, "reset", "POST")
    with ThreadPoolExecutor(concurrency) as pool:
        cpu, start = time.process_time(), time.perf_counter()
        list(pool.map(fn, items))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    stats = stub_call(url, "stats")
    assert stats["requests"] == len(items), f"{stats['requests']} requests reached the stub, expected {len(items)}"
    return {"wall": wall, "busy": stats["busy_seconds"] / (wall * concurrency), "cpu_ms": cpu * 1000 / len(items),
            "max_in_flight": stats["max_in_flight"]}


def make_clients(url: str, concurrency: int, tmp: str, with_dspy: bool) -> dict:
    import dspy
    import httpx

    from codeclm.engine import CallCache, EndpointLimiter, EngineLM, RetryPolicy, UsageLedger

    client = httpx.Client(limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                          timeout=30)

    def raw(msgs):
        reply = client.post(f"{url}/chat/completions", json={"model": "stub-model", "messages": msgs},
                            headers={"Authorization": "Bearer sk-bench"})
        reply.raise_for_status()
        return reply.json()["choices"][0]["message"]["content"]

    def engine(transport: str) -> EngineLM:
        return EngineLM("openai/stub-model", api_base=url, api_key="sk-bench", role="target", transport=transport,
                        cache=CallCache(Path(tmp) / f"{transport}.sqlite"), limiter=EndpointLimiter(concurrency),
                        retry=RetryPolicy(), ledger=UsageLedger())

    direct, via_litellm = engine("direct"), engine("litellm")
    clients = {"raw": raw,
               "direct": lambda m: direct.forward(messages=m),
               "litellm": lambda m: via_litellm.forward(messages=m)}
    if with_dspy:
        plain = dspy.LM("openai/stub-model", api_base=url, api_key="sk-bench", engine="litellm", cache=False,
                        num_retries=0)
        clients["dspy.LM"] = lambda m: plain.forward(messages=m)
    return clients


def run_latency(latency: float, n: int, c: int, repeats: int, with_dspy: bool) -> dict[str, list[dict]]:
    """Every client once per repeat, interleaved; rows carry wall / raw of their own repeat."""
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    proc, url = start_stub(latency)
    rows: dict[str, list[dict]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            clients = make_clients(url, c, tmp, with_dspy)
            names = list(clients)
            for name, fn in clients.items():  # imports, connection pools
                timed(url, c, fn, [[{"role": "user", "content": f"warm-up {name} {i}"}] for i in range(2 * c)])
            for r in range(repeats):
                order = names[r % len(names):] + names[:r % len(names)]
                results = {}
                for name in order:
                    items = [[{"role": "user", "content": f"repeat {r} {name} request {i}: say something"}]
                             for i in range(n)]
                    results[name] = timed(url, c, clients[name], items)
                for name in names:
                    rows.setdefault(name, []).append({**results[name],
                                                      "ratio": results[name]["wall"] / results["raw"]["wall"]})
    finally:
        proc.terminate()
        proc.wait()
    return rows


def report(latency: float, n: int, c: int, rows: dict[str, list[dict]]) -> None:
    ideal = -(-n // c) * latency
    print(f"\nN={n} requests, concurrency C={c}, stub latency {latency * 1000:.0f} ms, ideal wall {ideal:.3f} s, "
          f"cpus={os.cpu_count()}")
    print(f"{'client':<9} {'repeat':>6} {'wall s':>8} {'/raw':>7} {'busy':>6} {'max in flight':>14} {'CPU ms/req':>11}")
    for name, runs in rows.items():
        for i, row in enumerate(runs, 1):
            print(f"{name:<9} {i:>6} {row['wall']:>8.3f} {row['ratio']:>7.3f} {row['busy']:>6.3f} "
                  f"{row['max_in_flight']:>14} {row['cpu_ms']:>11.2f}")
    print("median over repeats: " + "; ".join(
        f"{name} /raw {statistics.median(r['ratio'] for r in runs):.3f} busy "
        f"{statistics.median(r['busy'] for r in runs):.3f}" for name, runs in rows.items()))
    direct = rows["direct"]
    met = all(r["ratio"] <= 1.05 and r["busy"] >= 0.95 for r in direct)
    print(f"direct path targets (every repeat: /raw <= 1.05, busy >= 0.95): {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description="EngineLM overhead (direct and litellm paths) vs a raw client")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.05, 0.5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--with-dspy", action="store_true", help="also time a plain dspy.LM (litellm, no cache)")
    args = parser.parse_args()
    for latency in args.latency:
        report(latency, args.n, args.concurrency,
               run_latency(latency, args.n, args.concurrency, args.repeats, args.with_dspy))


if __name__ == "__main__":
    main()
