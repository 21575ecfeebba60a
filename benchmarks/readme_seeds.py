"""README's main command on fresh caches with seeds 0, 1 and 2 (issue 20): per seed, what the filter did
(kept, sent back to Self-Rubrics, dropped and why, kept at iteration >= 2) and the wall time.

    python benchmarks/readme_seeds.py --seeds 0 1 2 --save benchmarks/results/readme_seeds_DATE.json

Each run gets its own empty cache folder (calls and servers) but shares the assembled weights.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CODECLM_CACHE_DIR": tmp,
               "CODECLM_MODELS_DIR": os.environ.get("CODECLM_MODELS_DIR", str(Path.home() / ".cache/codeclm/models"))}
        out = Path(tmp) / "out.jsonl"
        started = time.time()
        proc = subprocess.run([sys.executable, "-m", "codeclm.cli", "run", str(ROOT / "programs/codeclm.yaml"), "--set", f"seed={seed}",
                               "--out", str(out), *extra], env=env, capture_output=True, text=True)
        wall = time.time() - started
        kept = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
        dropped_file = out.with_name("out.dropped.jsonl")
        dropped = [json.loads(line) for line in dropped_file.read_text().splitlines()] if dropped_file.exists() else []
        manifest = json.loads(out.with_name("out.manifest.json").read_text()) if out.with_name("out.manifest.json").exists() else {}
        sent_back = sum(1 for r in kept + dropped for h in r.get("history", []) if "too easy" in (h.get("decision") or ""))
        return {"seed": seed, "exit": proc.returncode, "wall_seconds": round(wall, 1), "kept": len(kept),
                "kept_by_iteration": dict(Counter(r["iteration"] for r in kept)), "sent_back": sent_back,
                "dropped": len(dropped), "dropped_by_reason": dict(Counter(d["reason"].split(":")[0] for d in dropped)),
                "gaps": [round(h["gap"], 3) for r in kept + dropped for h in r.get("history", []) if h.get("gap") is not None],
                "check": (manifest.get("judge") or {}).get("check", {}) and manifest["judge"]["check"].get("verdict"),
                "kept_records": [{"id": r["id"], "iteration": r["iteration"], "gap": r["gap"], "instruction": r["instruction"],
                                  "response": r["response"]} for r in kept],
                "dropped_records": [{"id": d["id"], "reason": d["reason"], "instruction": d.get("instruction")} for d in dropped],
                "stderr_tail": proc.stderr[-1500:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--save")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    extra = [x for s in args.set for x in ("--set", s)]
    results = []
    for seed in args.seeds:
        r = one(seed, extra)
        results.append(r)
        print(f"seed {seed}: exit {r['exit']}, {r['wall_seconds']} s, kept {r['kept']} {r['kept_by_iteration']}, sent back "
              f"{r['sent_back']}, dropped {r['dropped']} {r['dropped_by_reason']}", flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps({"machine": os.uname().nodename, "cpus": os.cpu_count(), "runs": results}, indent=1))


if __name__ == "__main__":
    main()
