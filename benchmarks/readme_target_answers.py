"""Were the filter's "keep" decisions on README's main command right? The local target's own answer to each kept
instruction of `readme_seeds.py` results, for a blind reader to compare with the strong answer (issue 20, item 6);
`--role strong --set answering.temperature=0` asks the strong model again instead (a greedy rollout).

Under `target-loss` the target never answers during a run; this asks it the way a run's Respond step would (the
program's template, caps and temperature) so a reader can label each kept pair `keep` (the target's answer is
clearly worse) or `send_back` (about as good), as in docs/filter_labels.md.

    python benchmarks/readme_target_answers.py benchmarks/results/readme_seeds_*.json --out answers.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codeclm.executors import ThreadExecutor
from codeclm.models.config import load_config
from codeclm.programs.session import open_program

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="readme_seeds.py --save files")
    parser.add_argument("--out", required=True)
    parser.add_argument("--role", choices=("target", "strong"), default="target", help="who answers (strong: a new rollout)")
    parser.add_argument("--set", action="append", default=[], help="program overrides, e.g. answering.temperature=0")
    args = parser.parse_args()
    kept = {}
    for name in args.results:
        for run in json.loads(Path(name).read_text())["runs"]:
            for record in run["kept_records"]:
                kept.setdefault((record["id"], record["instruction"], record["response"]),
                                {"results": Path(name).name, "seed": run["seed"], **record})
    config = load_config(ROOT / "programs/codeclm.yaml", ["judging.check.enabled=false", "concurrency=1", *args.set])
    with open_program(config) as session:
        respond = getattr(session.program.contrastive_filter, f"respond_{args.role}")

        def answer(record):
            return respond(instruction=record["instruction"], key=f"readme-{args.role}/{record['id']}")

        rows = []
        for outcome in ThreadExecutor(1).map(f"{args.role} answers", answer, list(kept.values())):
            record = outcome.item
            target = outcome.value if outcome.ok else None
            rows.append({**record, "answered_by": args.role, "overrides": args.set, "answer": target.text if target else None,
                         "answer_finish_reason": target.finish_reason if target else None,
                         "answer_guard": target.guard if target else str(outcome.error)})
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} kept records answered by the {args.role} -> {args.out}")


if __name__ == "__main__":
    main()
