"""Adaptive (AIMD) vs fixed concurrency against a stub server with a hidden concurrency limit.

    python benchmarks/adaptive_concurrency.py [--capacity 8] [--latency 0.1] [--requests 1500] [--max 32] [--save FILE]

The stub (tests/stub_server.py, 127.0.0.1 only) answers after `--latency` seconds, and refuses with an immediate 429
(Retry-After 0.05 s) any request beyond `--capacity` in flight: the limit's throughput is capacity / latency. The
same `--requests` chat calls go through EngineLM (no cache; the engine's retries with backoff) from `--max` threads,
once per setting: fixed concurrency at `--max` (the YAML's max_concurrency, over the hidden limit), fixed at the
hidden capacity (an oracle nobody has: the best a fixed setting can do), and adaptive with maximum `--max`.
Reported per setting: successful replies per second as a share of the limit's throughput, and requests rejected
(429) as a share of requests sent. Bounded loopback load only: at most `--max` connections, a few thousand requests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from stub_server import StubServer  # noqa: E402

import logging  # noqa: E402

from codeclm.engine import EngineLM, EndpointLimiter, RetryPolicy, UsageLedger  # noqa: E402


def trial(url: str, stub: StubServer, requests: int, threads: int, limiter: EndpointLimiter) -> dict:
    lm = EngineLM("openai/stub-model", api_base=url, api_key="none", role="strong", cache=None, limiter=limiter,
                  retry=RetryPolicy(max_tries=30, base_delay=0.05, max_delay=1.0, timeout=30), ledger=UsageLedger())
    queue = list(range(requests))
    lock = threading.Lock()
    failures = []

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                n = queue.pop()
            try:
                lm.forward(messages=[{"role": "user", "content": f"request {n}"}], max_tokens=8)
            except Exception as exc:  # noqa: BLE001 - counted, reported
                failures.append(repr(exc)[:200])

    stub.reset()
    start = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    [t.start() for t in pool]
    [t.join() for t in pool]
    seconds = time.monotonic() - start
    stats = stub.stats()
    ok = requests - len(failures)
    limit_throughput = stub.capacity / stub.latency
    result = {"requests": requests, "answered": ok, "failed": len(failures), "sent": stats["requests"],
              "rejected": stats["rejected"], "rejected_share": round(stats["rejected"] / stats["requests"], 4),
              "seconds": round(seconds, 2), "throughput": round(ok / seconds, 2),
              "share_of_limit": round(ok / seconds / limit_throughput, 3), "max_in_flight_seen": stats["max_in_flight"]}
    if limiter.aimd is not None:
        result["aimd"] = limiter.aimd.state()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--max", type=int, default=32)
    parser.add_argument("--save", help="write the results as JSON here")
    args = parser.parse_args()
    logging.getLogger("codeclm.engine.lm").setLevel(logging.ERROR)  # one warning per 429 retried otherwise
    results = {"machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}", "args": vars(args),
               "limit_throughput": args.capacity / args.latency, "runs": {}}
    with StubServer(latency=args.latency) as stub:
        stub.capacity = args.capacity
        settings = {f"fixed {args.max}": EndpointLimiter(args.max), f"fixed {args.capacity} (oracle)": EndpointLimiter(args.capacity),
                    f"adaptive, max {args.max}": EndpointLimiter(args.max, adaptive=True)}
        for name, limiter in settings.items():
            results["runs"][name] = run = trial(stub.url, stub, args.requests, args.max, limiter)
            print(f"{name:24s} throughput {run['throughput']:7.2f}/s = {run['share_of_limit']:.1%} of the limit's "
                  f"{results['limit_throughput']:.0f}/s; rejected {run['rejected']} of {run['sent']} sent "
                  f"({run['rejected_share']:.2%}); failed {run['failed']}; {run['seconds']} s"
                  + (f"; AIMD {run['aimd']}" if "aimd" in run else ""), flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
