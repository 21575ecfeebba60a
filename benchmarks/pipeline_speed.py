"""The main job against its physical limit, old against new, in one run on this machine.

    python benchmarks/pipeline_speed.py [--baseline REV] [--repeats 1] [--set KEY=VALUE ...]

Runs README's main job (`codeclm run programs/codeclm.yaml`, each version's own default program
and filter check) on the same seeds and sizes, each on a fresh call cache and fresh servers:
`old` is a git worktree of REV (default: the last commit before the second wave), `new` is this
checkout. For each run it reads the manifest: calls, kept records, and per model the work the run
asked of it (prompt tokens evaluated vs reused from a cached prefix, tokens generated, the server's
own seconds), which the run's ledger summed from the replies' usage and llama.cpp ``timings``. The
old version's replies carry neither (its servers predate codeclm's usage patch), so for a manifest
without them the work comes from llama.cpp's own lines in that run's server logs. Then it measures
each model's raw speed on the same machine in the same run (one request at a time: a ~510-token
prompt, then 128 tokens counting, a streamed chat request whose last chunk carries the server's
timings; the best of 3). The floor is the run's evaluated
prompt tokens / raw prompt speed + generated tokens / raw generation speed, summed over models:
the time the models alone need for the work the run asked of them, one sequence at a time (the new
version generates a stage's answers side by side, which can finish below that floor). Prints
wall / floor and new / old.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "5055476"  # the first wave as it landed
SIZES = ["seeds.limit=6", "num_metadata=8", "instructions_per_metadata=1", "max_iterations=2"]  # as the issue measured it
EPYC = (30, 15)  # Qwen2.5-Coder-1.5B on the user's 2-core AMD EPYC, measured by the project (issue 13)
STRONG = "qwen2.5-coder-1.5b-instruct"
# llama.cpp's own per-request lines, for the old version only (its replies carry no usage or timings)
_PROMPT = re.compile(r"prompt eval time =\s+([\d.]+) ms /\s+(\d+) tokens")
_GEN = re.compile(r"^\S*\s*eval time =\s+([\d.]+) ms /\s+(\d+) runs", re.M)
_PREFIX = re.compile(r"(\d+) prefix-match hit")


def checkout(rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True, capture_output=True)
    return where


def work_from_manifest(models: dict[str, dict]) -> dict[str, dict[str, float]] | None:
    """Per local model: prompt tokens evaluated and reused, tokens generated, and the server's own ms, as the run's
    ledger summed them from the replies (usage; llama.cpp timings). A scoring reply (echo) carries no timings: all
    its prompt tokens are evaluated, and they count here through its usage. None when the replies carried none."""
    if not models or any("server_prompt_seconds" not in row for row in models.values()):
        return None
    return {name.removeprefix("openai/"): {
        "prompt_tokens_evaluated": row["prompt_tokens"] - row["cached_prompt_tokens"],
        "prompt_ms": row["server_prompt_seconds"] * 1000, "generated_tokens": row["completion_tokens"],
        "generated_ms": row["server_generation_seconds"] * 1000, "prefix_tokens_reused": row["cached_prompt_tokens"]}
        for name, row in models.items()}


def work_from_logs(logs: Path) -> dict[str, dict[str, float]]:
    """The same figures from llama.cpp's own lines in each server's log: for the old version, whose replies carry
    no usage or timings and whose servers run every request alone."""
    work = {}
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(errors="replace")
        prompt = [(float(ms), int(n)) for ms, n in _PROMPT.findall(text)]
        generated = [(float(ms), int(n)) for ms, n in _GEN.findall(text.replace("prompt eval time", "prompt_eval_time"))]
        work[log.stem] = {"prompt_tokens_evaluated": sum(n for _, n in prompt), "prompt_ms": sum(ms for ms, _ in prompt),
                          "generated_tokens": sum(n for _, n in generated), "generated_ms": sum(ms for ms, _ in generated),
                          "prefix_tokens_reused": sum(int(n) for n in _PREFIX.findall(text))}
    return work


def run_job(code: Path, cache: Path, overrides: list[str]) -> dict:
    """README's main job from checkout `code` on a fresh cache; wall seconds, manifest and server work."""
    env = {**os.environ, "PYTHONPATH": str(code), "CODECLM_CACHE_DIR": str(cache),
           "CODECLM_MODELS_DIR": os.environ.get("CODECLM_MODELS_DIR", str(Path.home() / ".cache/codeclm/models"))}
    out = cache / "data.jsonl"
    args = [sys.executable, "-m", "codeclm.cli", "run", str(code / "programs" / "codeclm.yaml"), "--out", str(out)]
    for item in SIZES + overrides:
        args += ["--set", item]
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=code)  # -m puts the cwd first on sys.path
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{code}: the main job failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    manifest = json.loads(out.with_name("data.manifest.json").read_text())
    work = work_from_manifest(manifest["usage"].get("models") or {}) or work_from_logs(cache / "logs")
    return {"wall": wall, "kept": manifest["kept"], "calls": manifest["usage"]["total"]["calls"], "work": work,
            "iterations": manifest.get("iterations"), "roles": manifest["usage"].get("roles", {}),
            "check": (manifest.get("judge") or {}).get("check") or (manifest.get("judge") or {}).get("calibration")}


def raw_speed(model: str, old_flags: bool) -> dict[str, float]:
    """Prompt and generation tokens per second of `model` alone on this machine: the best of 3 requests after a
    warm-up, on a fresh server with no cache (`old_flags`: logits_all and no repacked weights, as the old servers ran).
    Each is a streamed chat request, one at a time; its last chunk carries llama.cpp's timings of that request (the
    counters llama.cpp's own log lines print). A chat request stops early on its own (3-30 tokens), so `min_tokens`
    keeps the end-of-text token away for 128 tokens: llama-cpp-python applies it while sampling, outside the timed
    evaluation."""
    sys.path.insert(0, str(ROOT))
    from codeclm.engine.stream import ChatStream
    from codeclm.local import LocalServer

    if old_flags:  # the first wave had no repacked weights on AMX builds (codeclm.local.server.repack)
        os.environ["CODECLM_LLAMA_REPACK"] = "0"
    timed = []
    try:
        with LocalServer(model, prompt_cache_mb=0, logprobs=old_flags, slots=1) as server:  # one sequence: the raw speed
            for run in range(4):  # the first warms the weights into memory; each prompt differs from its first word
                words = " ".join(f"{run}word{i}" for i in range(90))  # ~510 tokens for each tokenizer, no reusable prefix
                body = {"model": model, "max_tokens": 128, "min_tokens": 128, "temperature": 0, "stream": True,
                        "messages": [{"role": "system", "content": words},
                                     {"role": "user", "content": "Count from 1 to 500, separated by commas, nothing else."}]}
                req = urllib.request.Request(server.api_base + "/chat/completions", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
                stream = ChatStream()
                with urllib.request.urlopen(req, timeout=900) as r:
                    for line in r.read().decode().splitlines():
                        stream.feed(line)
                timings = stream.extra["timings"]
                print(f"raw speed request {run} on {model}: {timings['prompt_n']} prompt, {timings['predicted_n']} generated "
                      f"tokens", file=sys.stderr, flush=True)
                if run:
                    timed.append(timings)
    finally:
        os.environ.pop("CODECLM_LLAMA_REPACK", None)
    # A request that stopped early (an end-of-text token) would time a short tail: only full-length ones count.
    prompts = [t["prompt_n"] / (t["prompt_ms"] / 1000) for t in timed if t["prompt_n"] >= 256 and t["prompt_ms"] > 0]
    generated = [t["predicted_n"] / (t["predicted_ms"] / 1000) for t in timed if t["predicted_n"] >= 64 and t["predicted_ms"] > 0]
    return {"prompt_per_s": max(prompts), "generated_per_s": max(generated)}  # the best of 3: the machine's limit


def floor(work: dict[str, dict], speed: dict[str, dict]) -> float:
    return sum(w["prompt_tokens_evaluated"] / speed[m]["prompt_per_s"] + w["generated_tokens"] / speed[m]["generated_per_s"]
               for m, w in work.items())


def report(name: str, result: dict, speed: dict) -> None:
    low = floor(result["work"], speed)
    print(f"{name}: wall {result['wall']:.0f} s, floor {low:.0f} s, wall/floor {result['wall'] / low:.2f}, "
          f"{result['kept']} kept, {result['calls']} paid calls, iterations {result['iterations']}")
    strong = result["work"][STRONG]
    print(f"  the 1.5B's work at the 2-core AMD EPYC's measured speeds ({EPYC[0]} prompt / {EPYC[1]} generated tokens/s): "
          f"{strong['prompt_tokens_evaluated'] / EPYC[0] + strong['generated_tokens'] / EPYC[1]:.0f} s (an estimate, not a measurement)")
    for model, w in result["work"].items():
        print(f"  {model}: prompt {w['prompt_tokens_evaluated']} evaluated + {w['prefix_tokens_reused']} reused, "
              f"{w['generated_tokens']} generated (server busy {(w['prompt_ms'] + w['generated_ms']) / 1000:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="extra overrides for both versions")
    parser.add_argument("--save", help="write each run's figures here (JSON) before the raw speeds are measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codeclm-speed-") as tmp:
        old = checkout(args.baseline, Path(tmp) / "old")
        try:
            results: dict[str, list[dict]] = {"old": [], "new": []}
            for repeat in range(args.repeats):
                for name, code in (("old", old), ("new", ROOT)):  # interleaved: machine drift hits both
                    results[name].append(run_job(code, Path(tmp) / f"{name}-{repeat}", args.set))
                    done = results[name][-1]
                    print(f"{name} run {repeat + 1}: {done['wall']:.0f} s, {done['kept']} kept, {done['calls']} calls", flush=True)
                    for role, use in done["roles"].items():  # where the time went, by step and role
                        print(f"  {role}: {use.get('calls')} calls, {use.get('prompt_tokens')} prompt + "
                              f"{use.get('completion_tokens')} generated tokens, {use.get('seconds', 0):.0f} s", flush=True)
            (Path(args.save) if args.save else Path(tmp) / "runs.json").write_text(json.dumps(results, indent=1))
            models = {name: sorted({m for result in results[name] for m in result["work"]}) for name in ("old", "new")}
            speeds = {name: {m: raw_speed(m, old_flags=name == "old") for m in models[name]} for name in ("old", "new")}
            for name, speed in speeds.items():
                for m, s in speed.items():
                    print(f"raw speed ({name} server flags) {m}: prompt {s['prompt_per_s']:.0f} tok/s, generation {s['generated_per_s']:.1f} tok/s")
            for name in ("old", "new"):
                for result in results[name]:
                    report(name, result, speeds[name])
            ratios = [n["wall"] / o["wall"] for o, n in zip(results["old"], results["new"])]
            per_record = [(n["wall"] / max(1, n["kept"])) / (o["wall"] / max(1, o["kept"])) for o, n in zip(results["old"], results["new"])]
            print(f"new / old wall: {', '.join(f'{r:.2f}' for r in ratios)}; per kept record: {', '.join(f'{r:.2f}' for r in per_record)}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)


if __name__ == "__main__":
    main()
