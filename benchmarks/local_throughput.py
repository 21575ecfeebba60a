"""Generated tokens/s through codeclm's path (EngineLM -> dspy.LM -> litellm) vs raw HTTP, same local server.

Usage: python benchmarks/local_throughput.py [--model smollm2-135m-instruct] [--reps 5] [--max-tokens 128]
Both sides send the same messages, max_tokens and temperature 0, interleaved, after one warm-up each.
The target is ratio >= 0.95 (codeclm's client adds at most 5% overhead).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import urllib.request

import dspy

from codeclm.local import DEFAULT_TARGET, LocalServer

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a detailed story about a robot who learns to paint, in at least 300 words."},
]


def raw_call(api_base: str, model: str, max_tokens: int) -> int:
    body = {"model": model, "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0}
    req = urllib.request.Request(f"{api_base}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)["usage"]["completion_tokens"]


def make_lm(api_base: str, model: str, max_tokens: int):
    """codeclm's own LM (no cache, no limiter); plain dspy.LM where the engine is absent."""
    try:
        from codeclm.engine.lm import EngineLM
    except ImportError:
        return dspy.LM(f"openai/{model}", api_base=api_base, api_key="local", engine="litellm", cache=False,
                       temperature=0, max_tokens=max_tokens)
    return EngineLM(f"openai/{model}", api_base=api_base, api_key="local", role="bench",
                    temperature=0, max_tokens=max_tokens)


def lm_call(lm) -> int:
    return lm.forward(messages=MESSAGES).usage.completion_tokens


def timed(fn) -> tuple[float, int]:
    t0 = time.perf_counter()
    tokens = fn()
    return tokens / (time.perf_counter() - t0), tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_TARGET)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()
    logging.getLogger("dspy").setLevel(logging.ERROR)  # truncation at max_tokens is intended here

    t0 = time.perf_counter()
    with LocalServer(args.model) as server:
        start_s = time.perf_counter() - t0
        lm = make_lm(server.api_base, server.model, args.max_tokens)
        raw = lambda: raw_call(server.api_base, server.model, args.max_tokens)  # noqa: E731
        via = lambda: lm_call(lm)  # noqa: E731
        raw(), via()  # warm-up: page in weights, fill the prompt cache, import litellm's lazy parts
        rates: dict[str, list[float]] = {"raw HTTP": [], "codeclm (EngineLM)": []}
        for _ in range(args.reps):
            for label, fn in (("raw HTTP", raw), ("codeclm (EngineLM)", via)):
                rate, tokens = timed(fn)
                rates[label].append(rate)
    print(f"model {args.model}: server start (weights check + load + healthy) {start_s:.1f} s; "
          f"{args.reps} reps x {tokens} tokens")
    for label, values in rates.items():
        print(f"  {label:18s} median {statistics.median(values):6.1f} tok/s  "
              f"(min {min(values):.1f}, max {max(values):.1f})")
    ratio = statistics.median(rates["codeclm (EngineLM)"]) / statistics.median(rates["raw HTTP"])
    best = max(rates["codeclm (EngineLM)"]) / max(rates["raw HTTP"])
    print(f"  ratio codeclm/raw = {ratio:.3f} median, {best:.3f} best-vs-best (target >= 0.95; "
          "on a busy machine trust best-vs-best)")


if __name__ == "__main__":
    main()
