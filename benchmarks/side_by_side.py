"""Generation speed of an embedded server with 1, 2, 4 and 8 chat requests at once (side by side).

    python benchmarks/side_by_side.py [--models qwen2.5-coder-1.5b-instruct smollm2-135m-instruct] [--tokens 128]

Each request asks the model to count (so it does not stop early) with its own first line, so no
two requests share more than the chat template's prefix; all requests of a round are sent at
once. Prints, per model and number of requests: wall seconds of the round, tokens generated,
tokens per second over the round, and the ratio to one request at a time. The best of 2 rounds
after a warm-up. One sequence at a time is llama-cpp-python's own speed; more are
codeclm.local.server.batching.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def ask(api_base: str, model: str, index: int, tokens: int) -> int:
    body = {"model": model, "max_tokens": tokens, "temperature": 0,
            "messages": [{"role": "system", "content": f"Request {index}: you count."},
                         {"role": "user", "content": "Count from 1 to 500, separated by commas, nothing else."}]}
    req = urllib.request.Request(api_base + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=1800) as r:
        return int(json.load(r)["usage"]["completion_tokens"])


def round_of(api_base: str, model: str, n: int, tokens: int, first: int) -> tuple[float, int]:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        generated = sum(pool.map(lambda i: ask(api_base, model, first + i, tokens), range(n)))
    return time.perf_counter() - started, generated


def main() -> None:
    from codeclm.local import LocalServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["qwen2.5-coder-1.5b-instruct", "smollm2-135m-instruct"])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    for model in args.models:
        with LocalServer(model, prompt_cache_mb=0, slots=max(args.sizes)) as server:
            round_of(server.api_base, model, 1, 16, 10_000)  # warm-up: weights into memory
            base = None
            for n in args.sizes:
                best = min((round_of(server.api_base, model, n, args.tokens, 1000 * (r + 1) + 100 * n) for r in range(2)),
                           key=lambda wall_tokens: wall_tokens[0] / max(1, wall_tokens[1]))
                rate = best[1] / best[0]
                base = base or rate
                print(f"{model}: {n} at once: {best[0]:.1f} s, {best[1]} tokens, {rate:.1f} tokens/s, "
                      f"{rate / base:.2f}x one at a time", flush=True)


if __name__ == "__main__":
    main()
