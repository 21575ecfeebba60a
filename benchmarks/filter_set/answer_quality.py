"""Can the local judge tell a bad strong answer from a good one? (issue 20 item 5)

The `pointwise-logprob` judge (the best LLM-judge scheme on keep / send back, docs/judging.md) rates the strong
answer of every labelled item that has one worth judging: `bad_answer` items (readers: the strong answer is wrong,
vacuous, refusing or off-task) against `keep` / `send_back` items (the strong answer is fit to train on). The
threshold is fit on dev and measured once on the check split, beside the trivial rule "strong answer words".

    python benchmarks/filter_set/answer_quality.py --save benchmarks/filter_set/answer_quality.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from signals import auc, frozen_rows, local_judge  # noqa: E402


def measure(rows: list[dict], value) -> dict:
    """Fit "bad when value is past a cut" on dev; caught / dropped on check. ("keep" stands for "bad" in the shared
    helpers, "send_back" for a good answer.)"""
    from codeclm.check.baselines import balanced_accuracy, fit_threshold
    from codeclm.check.grading import wilson

    def label(r):
        return "keep" if r["label"] == "bad_answer" else "send_back"

    dev, check = [r for r in rows if r["split"] == "dev"], [r for r in rows if r["split"] == "check"]
    cut, direction, dev_score = fit_threshold([value(r) for r in dev], [label(r) for r in dev])

    def decide(r):
        return "keep" if direction * (value(r) - cut) > 0 else "send_back"

    bad, good = [r for r in check if label(r) == "keep"], [r for r in check if label(r) == "send_back"]
    caught, dropped = sum(decide(r) == "keep" for r in bad), sum(decide(r) == "keep" for r in good)
    return {"rule": f"bad if {'>' if direction > 0 else '<'} {cut:.3g}", "dev_balanced": round(dev_score, 3),
            "check_auc_low_is_bad": round(auc([-value(r) for r in check], [label(r) for r in check]), 3),
            "bad_caught": [caught, len(bad), [round(x, 3) for x in wilson(caught, len(bad))]],
            "good_dropped": [dropped, len(good), [round(x, 3) for x in wilson(dropped, len(good))]],
            "check_balanced": round(balanced_accuracy([decide(r) for r in check], [label(r) for r in check]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save")
    args = parser.parse_args()
    from codeclm.models.config import load_config
    from codeclm.programs.session import open_program

    rows = [r for r in frozen_rows() if r["label"] in ("bad_answer", "keep", "send_back") and r["strong"]["text"].strip()]
    config = load_config(ROOT / "programs/codeclm.yaml", ["judging.check.enabled=false"])
    scheme = "pointwise-logprob"
    with open_program(config) as session:
        judge = local_judge(session, scheme)
        for n, row in enumerate(rows, 1):  # the same keys as signals.py: its verdicts come from the cache
            verdict = judge(instruction=row["instruction"], strong=row["strong"]["text"], target=row["target"]["text"],
                            key=f"signals/{row['id']}")
            row["rating"] = verdict.strong
            if n % 10 == 0:
                print(f"rated {n}/{len(rows)}", flush=True)
    out = {"scheme": scheme, "judge": "local qwen2.5-coder-1.5b-instruct",
           "signals": {"strong answer rating": measure(rows, lambda r: r["rating"]),
                       "strong answer words (trivial)": measure(rows, lambda r: len(r["strong"]["text"].split()))}}
    print(json.dumps(out, indent=1))
    if args.save:
        Path(args.save).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
