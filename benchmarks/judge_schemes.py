"""Judge schemes on the local default: accuracy, order consistency and seconds per pair on calibration pairs.

    python benchmarks/judge_schemes.py [--api-base http://127.0.0.1:PORT/v1] [--seeds 3] [--schemes ...]

Without --api-base the pinned qwen2.5-coder-1.5b-instruct is started (and stopped) here. Pairs are
built as in calibration: the strong answer vs the same answer cut to 20%, vs another seed's
answer, vs a refusal or empty answer. Small on purpose: ~9 pairs on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack

import dspy
from rich.console import Console

from codeclm.seeds import read_seeds
from codeclm.judging.calibration import evaluate
from codeclm.judging.cli import table
from codeclm.judging.pairs import build_pairs
from codeclm.judging.scales import SCALES
from codeclm.judging.schemes import make_judge
from codeclm.steps.respond import Respond
from codeclm.templates import PromptLibrary

MODEL = "qwen2.5-coder-1.5b-instruct"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api-base")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--answer-tokens", type=int, default=128)
    ap.add_argument("--schemes", nargs="*", default=list(SCALES))
    args = ap.parse_args()
    console = Console()
    with ExitStack() as stack:
        api_base = args.api_base
        if not api_base:
            from codeclm.local import open_endpoint

            api_base = open_endpoint(MODEL, stack).api_base
        lm = dspy.LM(f"openai/{MODEL}", api_base=api_base, api_key="local", engine="litellm", cache=False, num_retries=0)
        prompts = PromptLibrary("prompts")
        seeds = read_seeds("benchmark:self_instruct")[: args.seeds]
        respond = Respond(prompts.render("respond"), lm, temperature=0.0, max_tokens=args.answer_tokens)
        started = time.time()
        answers = [respond(instruction=s.text, key=s.id) for s in seeds]
        console.print(f"{len(seeds)} strong answers in {time.time() - started:.0f} s")
        pairs = build_pairs([s.text for s in seeds], answers)
        reports = []
        for scheme in args.schemes:
            reports.append(evaluate(make_judge(scheme, prompts.render(SCALES[scheme].template), lm, max_attempts=2), pairs))
            console.print(f"{scheme}: {reports[-1].line()}, {reports[-1].seconds_per_pair:.1f} s/pair", highlight=False)
            gaps = ", ".join(f"{r.pair_id} {r.verdict.gap:+.3f}" if r.verdict else f"{r.pair_id} failed" for r in reports[-1].results)
            console.print(f"  gaps: {gaps}", highlight=False)
        console.print(table(reports))


if __name__ == "__main__":
    main()
