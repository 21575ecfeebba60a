"""Overhead of EngineLM against a raw concurrent HTTP client, on a fixed-latency stub.

The stub runs in its own process (so it does not share the clients' GIL) with a
fixed latency. The same N distinct chat requests go out at concurrency C through:

  raw      httpx.Client, one pooled client, C threads
  dspy.LM  plain dspy.LM(engine="litellm"), no cache, no retries (the floor we build on)
  EngineLM fresh sqlite cache (every call a miss + put), limiter at C, ledger, retries armed

Printed per client: wall seconds, wall / raw, and the stub's busy fraction,
defined as  sum over requests of in-server seconds / (wall * C)  — 1.0 means the
server always had C requests in progress. Client CPU ms per request (all threads,
process time) is printed too: it is what the GIL serializes, and it is steadier
than wall time on a loaded machine. Targets: EngineLM/raw <= 1.05, busy >= 0.95.

    .venv/bin/python benchmarks/overhead.py --n 200 --concurrency 8 --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import os
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


def timed(url: str, concurrency: int, fn, items) -> tuple[float, dict]:
    stub_call(url, "reset", "POST")
    with ThreadPoolExecutor(concurrency) as pool:
        cpu, start = time.process_time(), time.perf_counter()
        list(pool.map(fn, items))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    return wall, {**stub_call(url, "stats"), "cpu_ms": cpu * 1000 / len(items)}


def main() -> None:
    parser = argparse.ArgumentParser(description="EngineLM overhead vs a raw client")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    n, c = args.n, args.concurrency

    import dspy
    import httpx

    from codeclm.engine import CallCache, EndpointLimiter, EngineLM, RetryPolicy, UsageLedger

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    proc, url = start_stub(args.latency)
    messages = [[{"role": "user", "content": f"request number {i}: say something"}] for i in range(n)]
    results = {}
    try:
        client = httpx.Client(limits=httpx.Limits(max_connections=c, max_keepalive_connections=c), timeout=30)

        def raw(msgs):
            reply = client.post(f"{url}/chat/completions", json={"model": "stub-model", "messages": msgs},
                                headers={"Authorization": "Bearer sk-bench"})
            reply.raise_for_status()
            return reply.json()["choices"][0]["message"]["content"]

        plain = dspy.LM("openai/stub-model", api_base=url, api_key="sk-bench", engine="litellm",
                        cache=False, num_retries=0)
        tmp = tempfile.TemporaryDirectory()
        engine = EngineLM("openai/stub-model", api_base=url, api_key="sk-bench", role="target",
                          cache=CallCache(Path(tmp.name) / "bench.sqlite"), limiter=EndpointLimiter(c),
                          retry=RetryPolicy(), ledger=UsageLedger())
        clients = {"raw": raw,
                   "dspy.LM": lambda m: plain.forward(messages=m),
                   "EngineLM": lambda m: engine.forward(messages=m)}
        warm = [[{"role": "user", "content": f"warm-up {i}"}] for i in range(2 * c)]
        for name, fn in clients.items():
            timed(url, c, fn, warm)  # imports, connection pools
            results[name] = timed(url, c, fn, messages)
        tmp.cleanup()
    finally:
        proc.terminate()
        proc.wait()

    ideal = -(-n // c) * args.latency
    print(f"N={n} requests, concurrency C={c}, stub latency {args.latency * 1000:.0f} ms, "
          f"ideal wall {ideal:.3f} s, cpus={os.cpu_count()}")
    print(f"{'client':<10} {'wall s':>8} {'/raw':>7} {'busy':>6} {'requests':>9} {'max in flight':>14} "
          f"{'client CPU ms/req':>18}")
    base = results["raw"][0]
    for name, (wall, stats) in results.items():
        busy = stats["busy_seconds"] / (wall * c)
        print(f"{name:<10} {wall:>8.3f} {wall / base:>7.3f} {busy:>6.3f} {stats['requests']:>9} "
              f"{stats['max_in_flight']:>14} {stats['cpu_ms']:>18.2f}")
    wall = results["EngineLM"][0]
    print(f"EngineLM / raw = {wall / base:.3f} (target <= 1.05); EngineLM / dspy.LM = "
          f"{wall / results['dspy.LM'][0]:.3f}; EngineLM busy fraction = "
          f"{results['EngineLM'][1]['busy_seconds'] / (wall * c):.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
