"""Every filter signal on the same items with a known right decision, on the local default models.

    python benchmarks/judge_schemes.py [--schemes target-loss pointwise-logprob ...] [--split check|dev]
                                       [--choose-theta] [--set KEY=VALUE ...]

Runs `codeclm judge check` per scheme through the product's own path (programs/codeclm.yaml,
the embedded Qwen2.5-Coder-1.5B as strong model and judge, SmolLM2-135M as target), each on a
fresh call cache, so seconds per item include the target's own answers (what a first run pays).
Prints the table docs/judging.md publishes: per scheme, accuracy of the decision at theta with
its 95% Wilson interval, per decision, gap > 0, seconds per item. `--choose-theta` (on the dev
split) prints, per scheme, the threshold that decides most items right and its figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from codeclm.models.config import load_config
from codeclm.check.program import check_filter
from codeclm.check.grading import report, wilson
from codeclm.check.display import table
from codeclm.judging.schemes import SCHEMES
from codeclm.programs.session import open_program

PROGRAM = Path(__file__).resolve().parent.parent / "programs" / "codeclm.yaml"


def best_theta(result):
    """The threshold (between observed gaps) with the most right decisions; ties: the balanced accuracy."""
    results = [r for r in result.results if r.gap is not None]
    gaps = sorted({r.gap for r in results})
    candidates = [gaps[0] - 1e-6] + [(a + b) / 2 for a, b in zip(gaps, gaps[1:])] + [gaps[-1] + 1e-6]

    def figures(theta):
        decided = [r.model_copy(update={"decided": "keep" if r.gap > theta else "send_back"}) for r in results]
        per = [sum(r.correct for r in decided if r.right == d) / max(1, sum(r.right == d for r in decided)) for d in ("keep", "send_back")]
        return sum(r.correct for r in decided), sum(per) / 2, decided

    theta = max(candidates, key=lambda t: figures(t)[:2])
    return theta, figures(theta)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemes", nargs="*", default=list(SCHEMES))
    parser.add_argument("--split", choices=["check", "dev", "all"], default="check")
    parser.add_argument("--choose-theta", action="store_true")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    console = Console()
    reports = []
    for scheme in args.schemes:
        config = load_config(PROGRAM, [f"judging.scheme={scheme}", "cache.enabled=false", *args.set])
        started = time.time()
        with open_program(config) as session:
            result = check_filter(session, split=args.split)
        console.print(f"{scheme} ({args.split} split, {time.time() - started:.0f} s): {result.line()}", highlight=False)
        reports.append(result)
        if args.choose_theta:
            theta, decided = best_theta(result)
            chosen = report(scheme, result.judge_model, result.target_model, decided, round(theta, 3), result.min_accuracy, 0)
            low, high = wilson(chosen.correct, chosen.items)
            console.print(f"  best theta on this split: {theta:.3f} -> {chosen.correct}/{chosen.items} ({low:.2f}-{high:.2f}), "
                          f"keep {chosen.by_decision['keep']}, send back {chosen.by_decision['send_back']}", highlight=False)
        gaps = " ".join(f"{r.id}:{'K' if r.right == 'keep' else 'S'}:{r.gap:.2f}" if r.gap is not None else f"{r.id}:error"
                        for r in result.results)
        console.print(f"  gaps (item:right decision:gap): {gaps}", highlight=False, soft_wrap=True)
    console.print(table(reports))


if __name__ == "__main__":
    main()
