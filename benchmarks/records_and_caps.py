"""records: N, spending caps and `codeclm plan` on a stub server: how exact the count, the caps and the projection are.

    python benchmarks/records_and_caps.py [--records 500] [--sizes 40 120 360] [--save FILE]

A scripted OpenAI-compatible stub (tests/stub_server.py, 127.0.0.1) plays every model: encode gives each seed one of
24 use cases and 3 of 40 skills, decode writes instructions of seeded random words (no near-duplicates by chance),
and the judge finds an instruction hard enough by a hash of its text (about 20% at iteration 1, 30% once improved),
so the yield is neither 0 nor 1 and differs between metadata. Prices are set (0.15 / 0.60 USD per 1M tokens in / out)
so max_usd has something to count. Every run gets a fresh output and call cache.

1. `codeclm run --records N`: kept records vs N.
2. The same program with max_calls = C (and once with max_usd): paid calls (the stub's count) vs C; USD vs max_usd.
3. `codeclm plan --records N --pilot 10`, then the run, for each of `--sizes`: the manifest's projected vs actual
   calls, tokens, dollars and wall time (relative error, and whether actual fell in the 95% interval).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["CODECLM_BENCH_KEY"] = "sk-bench-not-a-key"

import yaml  # noqa: E402
from fakes import chat_answer, field_value, is_plain, step_from_request, to_plain  # noqa: E402
from stub_server import StubServer  # noqa: E402

USE_CASES = [f"use case {name}" for name in "abcdefghijklmnopqrstuvwx"]
SKILLS = [f"skill{n}" for n in range(40)]
WORDS = [f"w{n}" for n in range(2000)]


def _h(*parts) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def answer(step: str, messages) -> object:
    if step == "encode":
        h = _h(field_value(messages, "instruction"))
        rng = random.Random(h)
        return {"use_case": USE_CASES[h % len(USE_CASES)], "skills": rng.sample(SKILLS, 3)}
    if step == "decode":
        rng = random.Random(_h(field_value(messages, "use_case"), field_value(messages, "skills")))
        return {"new_instructions": [" ".join(["Do"] + rng.sample(WORDS, 14)) + "." for _ in range(2)]}
    if step == "rubrics":
        return {"rubrics": ["constraints", "reasoning", "rare facts"], "actions": ["add a constraint", "add reasoning", "ask rare facts"]}
    if step == "improve":
        return {"improved_instruction": field_value(messages, "instruction") + " [harder: " + field_value(messages, "action") + "]"}
    if step == "respond":
        return {"response": "STRONG answer with some length to it " * 3}
    if step == "judge":
        text = field_value(messages, "instruction")
        hard = _h(text) % 100 < (30 if "[harder:" in text else 20)
        strong_first = field_value(messages, "answer_1").startswith("STRONG")
        s, t = (9, 2) if hard else (7, 7)
        return {"score_1": s if strong_first else t, "score_2": t if strong_first else s, "explanation": "ok"}
    raise AssertionError(step)


def responder(body: dict) -> str:
    messages = body["messages"]
    if body["model"].endswith("target"):
        reply = {"response": "target answer"}
    else:
        reply = answer(step_from_request(messages), messages)
    return to_plain(reply) if is_plain(messages) else chat_answer(reply)


def write_program(folder: Path, url: str, **settings) -> Path:
    seeds = [f"Seed instruction number {n}: write something about topic {n}." for n in range(60)]
    (folder / "seeds.txt").write_text("\n".join(seeds))
    endpoint = {"api_base": url, "api_key_env": "CODECLM_BENCH_KEY", "max_tries": 3, "max_concurrency": 8,
                "price_in_per_1m": 0.15, "price_out_per_1m": 0.60}
    program = {
        "prompts": str(ROOT / "prompts"),
        "models": {"strong": {"model": "stub-strong", **endpoint}, "target": {"model": "stub-target", **endpoint}},
        "seeds": {"path": "seeds.txt"}, "output": "out/data.jsonl",
        "num_metadata": 20, "instructions_per_metadata": 2, "max_iterations": 2, "concurrency": 8,
        "judging": {"scheme": "pairwise-1-10", "check": {"enabled": False}},
        "cache": {"path": str(folder / "calls.sqlite")}, **settings,
    }
    path = folder / "program.yaml"
    path.write_text(yaml.safe_dump(program))
    return path


def cli(*args: str) -> int:
    from codeclm.cli import main

    return main(list(args))


def manifest(folder: Path) -> dict:
    return json.loads((folder / "out" / "data.manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--max-calls", type=int, default=1200)
    parser.add_argument("--max-usd", type=float, default=0.02)
    parser.add_argument("--sizes", type=int, nargs="+", default=[40, 120, 360])
    parser.add_argument("--save", help="write the results as JSON here")
    args = parser.parse_args()
    import logging

    logging.getLogger("codeclm").setLevel(logging.ERROR)
    results: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
                     "args": vars(args)}
    with StubServer(responder=responder) as stub, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def fresh(name: str, **settings) -> tuple[Path, Path]:
            folder = tmp / name
            folder.mkdir()
            stub.reset()
            return folder, write_program(folder, stub.url, **settings)

        folder, program = fresh("records")
        start = time.monotonic()
        code = cli("run", str(program), "--records", str(args.records))
        m = manifest(folder)
        results["records"] = {"asked_for": args.records, "kept": m["kept"], "exit": code, "asked": m["quota"]["asked"],
                              "yield": m["quota"]["yield"], "calls": m["usage"]["total"]["calls"],
                              "stub_requests": stub.stats()["requests"], "near_duplicates": m["near_duplicates"],
                              "cells": len(m["quota"]["cells"]), "seconds": round(time.monotonic() - start, 1)}
        print(f"records: asked for {args.records}, kept {m['kept']} ({m['quota']['asked']} instructions asked, yield "
              f"{m['quota']['yield']}, {m['usage']['total']['calls']} calls, {results['records']['seconds']} s)", flush=True)

        folder, program = fresh("max_calls")
        code = cli("run", str(program), "--records", str(args.records), "--set", f"max_calls={args.max_calls}")
        m = manifest(folder)
        results["max_calls"] = {"cap": args.max_calls, "paid_calls_stub": stub.stats()["requests"], "exit": code,
                                "ledger_calls": m["usage"]["total"]["calls"], "kept": m["kept"], "status": m["status"]}
        print(f"max_calls {args.max_calls}: the stub answered {stub.stats()['requests']} requests; exit {code}; "
              f"kept {m['kept']}; {m['status'][:120]}", flush=True)

        folder, program = fresh("max_usd")
        code = cli("run", str(program), "--records", str(args.records), "--set", f"max_usd={args.max_usd}")
        m = manifest(folder)
        results["max_usd"] = {"cap": args.max_usd, "spent": m["caps"]["usd"], "ledger_cost": m["usage"]["total"]["cost"],
                              "calls": m["usage"]["total"]["calls"], "exit": code, "kept": m["kept"]}
        print(f"max_usd {args.max_usd}: spent ${m['caps']['usd']:.6f} (ledger ${m['usage']['total']['cost'] or 0:.6f}) in "
              f"{m['usage']['total']['calls']} calls; exit {code}; kept {m['kept']}", flush=True)

        results["projection"] = []
        for size in args.sizes:
            folder, program = fresh(f"plan{size}")
            cli("plan", str(program), "--records", str(size), "--pilot", "10")
            cli("run", str(program), "--records", str(size))
            m = manifest(folder)
            row = {"records": size, "kept": m["kept"], "measures": m["plan"]["measures"]}
            results["projection"].append(row)
            print(f"plan vs actual, N={size}: " + "; ".join(
                f"{name} {v['projected']['point']} [{v['projected']['low']}, {v['projected']['high']}] vs {v['actual']} "
                f"({v['relative_error']:+.1%}{', inside' if v['in_interval'] else ', OUTSIDE'})"
                for name, v in m["plan"]["measures"].items()), flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
