"""Near-duplicate check at scale: MinHash LSH (codeclm.programs.dedup, what runs use) vs Self-Instruct's ROUGE-L rule.

    python benchmarks/dedup_scale.py [--n 100000] [--rouge-n 1000 2000] [--save FILE]

Makes `--n` synthetic instructions (15-30 words drawn from a 5,000-word vocabulary, seeded); every 20th one is a
copy of an earlier one with one or two words replaced; the copies whose exact Jaccard with their source is >= 0.7
are the planted near-duplicates (recall is counted on them; a drop of another one is a false positive only if its
exact Jaccard is below 0.7, which the exact confirmation rules out). Each goes through
`NearDuplicateIndex.check_and_add` in order, as a run does. Reported: total seconds and microseconds per
instruction wall and CPU (first and last 10% apart, to show the per-lookup cost does not grow with the index), peak Python
memory (tracemalloc), planted near-duplicates found, and other drops (false positives). The ROUGE-L rule
(codeclm.programs.filters.NearDuplicates: every new instruction against the whole pool) is timed on the
`--rouge-n` sizes only: its cost grows with the square of n, and the report extrapolates it to `--n`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codeclm.programs.dedup import THRESHOLD, NearDuplicateIndex, jaccard, shingles  # noqa: E402
from codeclm.programs.filters import NearDuplicates  # noqa: E402


def instructions(n: int, seed: int = 0) -> tuple[list[str], set[int]]:
    """Texts, and the planted copies whose exact 3-gram Jaccard with their source is >= the rule's threshold (a copy
    with two words replaced in a short text can fall below it: then it is not a near-duplicate by the rule)."""
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(5000)]
    texts, planted = [], set()
    for i in range(n):
        if i % 20 == 19 and texts:
            source = rng.choice(texts)
            words = source.split()
            for _ in range(rng.randint(1, 2)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            texts.append(" ".join(words))
            if jaccard(shingles(source), shingles(texts[-1])) >= THRESHOLD:
                planted.add(i)
        else:
            texts.append(" ".join(rng.choices(vocab, k=rng.randint(15, 30))))
    return texts, planted


def minhash(n: int) -> dict:
    texts, planted = instructions(n)
    index = NearDuplicateIndex()
    tracemalloc.start()
    cpu = time.process_time()
    stamps, dropped = [time.perf_counter()], set()
    for i, text in enumerate(texts):
        if index.check_and_add(f"i{i}", text) is not None:
            dropped.add(i)
        if (i + 1) % (n // 10) == 0:
            stamps.append(time.perf_counter())
    cpu = time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tenth = n // 10
    return {"n": n, "seconds": round(stamps[-1] - stamps[0], 2), "cpu_seconds": round(cpu, 2),
            "us_per_instruction_first_10pct": round((stamps[1] - stamps[0]) / tenth * 1e6, 1),
            "us_per_instruction_last_10pct": round((stamps[-1] - stamps[-2]) / tenth * 1e6, 1),
            "peak_python_memory_mb": round(peak / 2**20, 1), "planted": len(planted),
            "planted_found": len(planted & dropped), "other_drops": len(dropped - planted)}


def rouge(n: int) -> dict:
    texts, planted = instructions(n)
    pool = NearDuplicates(0.7)
    start, cpu, dropped = time.perf_counter(), time.process_time(), set()
    for i, text in enumerate(texts):
        if pool.match(text):
            dropped.add(i)
        else:
            pool.add(text)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"n": n, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "planted": len(planted), "planted_found": len(planted & dropped),
            "other_drops": len(dropped - planted)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rouge-n", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--save")
    args = parser.parse_args()
    result = {"machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
              "minhash": minhash(args.n), "rouge_l": [rouge(n) for n in args.rouge_n]}
    largest = result["rouge_l"][-1]
    result["rouge_l_extrapolated_cpu_seconds"] = round(largest["cpu_seconds"] * (args.n / largest["n"]) ** 2)
    result["load_average"] = os.getloadavg()
    m = result["minhash"]
    print(f"MinHash LSH (128 permutations, word 3-grams, Jaccard >= 0.7): {m['n']} instructions in {m['seconds']} s "
          f"wall, {m['cpu_seconds']} s CPU "
          f"({m['us_per_instruction_first_10pct']} us each in the first 10%, {m['us_per_instruction_last_10pct']} us in "
          f"the last); peak Python memory {m['peak_python_memory_mb']} MB; planted near-duplicates found "
          f"{m['planted_found']} of {m['planted']}; other drops {m['other_drops']}")
    for r in result["rouge_l"]:
        print(f"ROUGE-L > 0.7 against the pool: {r['n']} instructions in {r['seconds']} s wall, {r['cpu_seconds']} s CPU; planted found "
              f"{r['planted_found']} of {r['planted']}; other drops {r['other_drops']}")
    print(f"ROUGE-L extrapolated to {args.n} (quadratic): ~{result['rouge_l_extrapolated_cpu_seconds']} s CPU; "
          f"load average during the run {result['load_average']}")
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
