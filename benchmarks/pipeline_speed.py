"""The main job against its physical limit, old against new, in one run on this machine.

    python benchmarks/pipeline_speed.py [--baseline REV] [--repeats 1] [--set KEY=VALUE ...]

Runs README's main job (`codeclm run programs/codeclm.yaml`, each version's own default program
and filter check) on the same seeds and sizes, each on a fresh call cache and fresh servers:
`old` is a git worktree of REV (default: the last commit before the second wave), `new` is this
checkout. For each run it reads the manifest (calls, kept records) and the llama.cpp server
logs (prompt tokens evaluated vs reused from a cached prefix, tokens generated, per model), then
measures each model's raw speed on the same machine in the same run (one request at a time: a
~475-token prompt, then 128 tokens continuing a count, through /completions; the best of 3). The floor is the run's evaluated
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
MODELS = ("qwen2.5-coder-1.5b-instruct", "smollm2-135m-instruct")
_PROMPT = re.compile(r"prompt eval time =\s+([\d.]+) ms /\s+(\d+) tokens")
_GEN = re.compile(r"^\S*\s*eval time =\s+([\d.]+) ms /\s+(\d+) runs", re.M)
_PREFIX = re.compile(r"(\d+) prefix-match hit")


def checkout(rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True, capture_output=True)
    return where


def server_work(log: Path) -> dict[str, float]:
    """Evaluated prompt tokens and ms, generated tokens and ms, reused prefix tokens, from one server log."""
    text = log.read_text(errors="replace") if log.exists() else ""
    prompt = [(float(ms), int(n)) for ms, n in _PROMPT.findall(text)]
    generated = [(float(ms), int(n)) for ms, n in _GEN.findall(text.replace("prompt eval time", "prompt_eval_time"))]
    return {"prompt_tokens_evaluated": sum(n for _, n in prompt), "prompt_ms": sum(ms for ms, _ in prompt),
            "generated_tokens": sum(n for _, n in generated), "generated_ms": sum(ms for ms, _ in generated),
            "prefix_tokens_reused": sum(int(n) for n in _PREFIX.findall(text))}


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
    work = {m: server_work(cache / "logs" / f"{m}.log") for m in MODELS}
    return {"wall": wall, "kept": manifest["kept"], "calls": manifest["usage"]["total"]["calls"], "work": work,
            "iterations": manifest.get("iterations"), "roles": manifest["usage"].get("roles", {}),
            "check": (manifest.get("judge") or {}).get("check") or (manifest.get("judge") or {}).get("calibration")}


def raw_speed(model: str, old_flags: bool) -> dict[str, float]:
    """Prompt and generation tokens per second of `model` alone on this machine: the best of 3 requests after a
    warm-up, on a fresh server with no cache (`old_flags`: logits_all and no repacked weights, as the old servers ran)."""
    sys.path.insert(0, str(ROOT))
    from codeclm.local import LocalServer

    if old_flags:  # the first wave had no repacked weights on AMX builds (codeclm.local.server.repack)
        os.environ["CODECLM_LLAMA_REPACK"] = "0"
    try:
        with LocalServer(model, prompt_cache_mb=0, logprobs=old_flags, slots=1) as server:  # one sequence: the raw speed
            start = server.log_path.stat().st_size  # one log file per model: read only this server's lines
            for run in range(4):  # the first warms the weights into memory; each prompt differs from its first token
                words = " ".join(f"{run}word{i}" for i in range(90))  # ~510 tokens for both tokenizers, no reusable prefix
                numbers = ", ".join(str(i) for i in range(1, 11))  # a count to continue: no end-of-text for 128 tokens
                body = {"model": model, "max_tokens": 128, "temperature": 0, "prompt": f"{words}\n\nCounting: {numbers},"}
                req = urllib.request.Request(server.api_base + "/completions", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=900) as r:
                    usage = json.load(r)["usage"]
                print(f"raw speed request {run} on {model}: {usage['prompt_tokens']} prompt, {usage['completion_tokens']} generated tokens",
                      file=sys.stderr, flush=True)
    finally:
        os.environ.pop("CODECLM_LLAMA_REPACK", None)
    text = server.log_path.read_bytes()[start:].decode(errors="replace")
    # Only the timed requests' own lines: ~512 prompt tokens, 128 generated (the server logs other, tiny evaluations too).
    prompts = [int(n) / (float(ms) / 1000) for ms, n in _PROMPT.findall(text)[1:] if int(n) >= 256 and float(ms) > 0]
    generated = [int(n) / (float(ms) / 1000) for ms, n in _GEN.findall(text.replace("prompt eval time", "prompt_eval_time"))[1:]
                 if int(n) >= 64 and float(ms) > 0]
    return {"prompt_per_s": max(prompts), "generated_per_s": max(generated)}  # the best of 3: the machine's limit


def floor(work: dict[str, dict], speed: dict[str, dict]) -> float:
    return sum(w["prompt_tokens_evaluated"] / speed[m]["prompt_per_s"] + w["generated_tokens"] / speed[m]["generated_per_s"]
               for m, w in work.items())


def report(name: str, result: dict, speed: dict) -> None:
    low = floor(result["work"], speed)
    print(f"{name}: wall {result['wall']:.0f} s, floor {low:.0f} s, wall/floor {result['wall'] / low:.2f}, "
          f"{result['kept']} kept, {result['calls']} paid calls, iterations {result['iterations']}")
    strong = result["work"][MODELS[0]]
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
            speeds = {name: {m: raw_speed(m, old_flags=name == "old") for m in MODELS} for name in ("old", "new")}
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
