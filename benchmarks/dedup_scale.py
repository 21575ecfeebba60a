"""Near-duplicate check at scale: MinHash LSH (codeclm.programs.dedup, what runs use) vs Self-Instruct's ROUGE-L rule.

    python -u benchmarks/dedup_scale.py [--n 1000 10000 100000] [--rouge-n 1000 2000] [--note TEXT] [--save FILE]

Makes n synthetic instructions (15-30 words drawn from a 5,000-word vocabulary, seeded); every 20th one is a
copy of an earlier original (never of a copy, so its source is always indexed) with one or two words replaced;
the copies whose exact 3-gram Jaccard with their source is >= 0.7 are the planted near-duplicates, those the
rule should drop (recall is counted on them; all copies found is reported too, since ROUGE-L also finds copies
below 0.7 Jaccard); "other drops" are originals dropped (false positives). Each goes through
`NearDuplicateIndex.check_and_add` in order, as a run does.

Each size runs in a fresh interpreter, twice: timed (wall and CPU seconds; wall and CPU microseconds per
instruction in the first and last 10% apart, to show whether the per-lookup cost grows with the index, CPU being
the steadier on a shared machine; peak RSS of the process, and its RSS just before the index was made), and under
tracemalloc (peak Python memory of the index pass; tracemalloc slows it, so its time is not reported). The
ROUGE-L rule (codeclm.programs.filters.NearDuplicates: every new instruction against the whole pool) is timed on
the `--rouge-n` sizes only: its cost grows with the square of n, and the report extrapolates it to the largest
`--n`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codeclm.programs.dedup import THRESHOLD, NearDuplicateIndex, jaccard, shingles  # noqa: E402


def instructions(n: int, seed: int = 0) -> tuple[list[str], set[int], set[int]]:
    """Texts; every copy; and the planted copies, those whose exact 3-gram Jaccard with their source is >= the rule's
    threshold (a copy with two words replaced in a short text can fall below it: then it is not a near-duplicate by
    the rule, though ROUGE-L may still find it)."""
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(5000)]
    texts, originals, copies, planted = [], [], set(), set()
    for i in range(n):
        if i % 20 == 19 and originals:
            source = rng.choice(originals)
            words = source.split()
            for _ in range(rng.randint(1, 2)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            texts.append(" ".join(words))
            copies.add(i)
            if jaccard(shingles(source), shingles(texts[-1])) >= THRESHOLD:
                planted.add(i)
        else:
            texts.append(" ".join(rng.choices(vocab, k=rng.randint(15, 30))))
            originals.append(texts[-1])
    return texts, copies, planted


def found(dropped: set[int], copies: set[int], planted: set[int]) -> dict:
    return {"copies": len(copies), "copies_found": len(copies & dropped), "planted": len(planted),
            "planted_found": len(planted & dropped), "other_drops": len(dropped - copies)}


def rss_mb() -> float:
    """The process's resident memory now (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def minhash(n: int, trace: bool) -> dict:
    """One size in this process: the timed pass, or (`trace`) the tracemalloc pass."""
    texts, copies, planted = instructions(n)
    rss_before = rss_mb()
    if trace:
        tracemalloc.start()
    index = NearDuplicateIndex()
    stamps, cpu, dropped, tenth = [time.perf_counter()], [time.process_time()], set(), max(1, n // 10)
    for i, text in enumerate(texts):
        if index.check_and_add(f"i{i}", text) is not None:
            dropped.add(i)
        if (i + 1) % tenth == 0:
            stamps.append(time.perf_counter())
            cpu.append(time.process_time())
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return {"peak_python_memory_mb": round(peak / 2**20, 1)}
    return {"n": n, "seconds": round(stamps[-1] - stamps[0], 2), "cpu_seconds": round(cpu[-1] - cpu[0], 2),
            "us_per_instruction_first_10pct": round((stamps[1] - stamps[0]) / tenth * 1e6, 1),
            "us_per_instruction_last_10pct": round((stamps[-1] - stamps[-2]) / tenth * 1e6, 1),
            "cpu_us_per_instruction_first_10pct": round((cpu[1] - cpu[0]) / tenth * 1e6, 1),
            "cpu_us_per_instruction_last_10pct": round((cpu[-1] - cpu[-2]) / tenth * 1e6, 1),
            "rss_before_index_mb": round(rss_before, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "indexed": len(index), **found(dropped, copies, planted)}


def minhash_fresh(n: int) -> dict:
    """One size in fresh interpreters (so peak RSS is this size's alone): timed, then traced."""
    def child(*extra: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), *extra], check=True, capture_output=True, text=True)
        return json.loads(out.stdout.splitlines()[-1])

    load = os.getloadavg()[0]
    result = child()
    result.update(child("--trace"))
    result["load_average_1min_before"] = round(load, 2)
    return result


def rouge(n: int) -> dict:
    from codeclm.programs.filters import NearDuplicates

    texts, copies, planted = instructions(n)
    pool = NearDuplicates(0.7)
    start, cpu, dropped = time.perf_counter(), time.process_time(), set()
    for i, text in enumerate(texts):
        if pool.match(text):
            dropped.add(i)
        else:
            pool.add(text)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"n": n, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), **found(dropped, copies, planted)}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cpus, {memory:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--rouge-n", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile, for the record")
    parser.add_argument("--save")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child: one size, JSON on stdout
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(minhash(args.one, args.trace)))
        return
    result = {"machine": machine(), "note": args.note, "date": time.strftime("%Y-%m-%d"),
              "datasketch": version("datasketch"), "minhash": [], "rouge_l": []}
    for n in args.n:
        m = minhash_fresh(n)
        result["minhash"].append(m)
        print(f"MinHash LSH (128 permutations, word 3-grams, Jaccard >= 0.7): {m['n']} instructions in {m['seconds']} s "
              f"wall, {m['cpu_seconds']} s CPU (each: {m['us_per_instruction_first_10pct']} us wall, "
              f"{m['cpu_us_per_instruction_first_10pct']} us CPU in the first 10%; {m['us_per_instruction_last_10pct']} us "
              f"wall, {m['cpu_us_per_instruction_last_10pct']} us CPU in the last); peak RSS {m['peak_rss_mb']} MB "
              f"({m['rss_before_index_mb']} MB before the index), peak Python memory {m['peak_python_memory_mb']} MB; "
              f"planted near-duplicates found {m['planted_found']} of {m['planted']} (copies {m['copies_found']} of "
              f"{m['copies']}); other drops {m['other_drops']}; load average {m['load_average_1min_before']}", flush=True)
    for n in args.rouge_n:
        r = rouge(n)
        result["rouge_l"].append(r)
        print(f"ROUGE-L > 0.7 against the pool: {r['n']} instructions in {r['seconds']} s wall, {r['cpu_seconds']} s CPU; "
              f"planted found {r['planted_found']} of {r['planted']} (copies {r['copies_found']} of {r['copies']}); "
              f"other drops {r['other_drops']}", flush=True)
    if result["rouge_l"]:
        largest, n = result["rouge_l"][-1], max(args.n)
        result["rouge_l_extrapolated_cpu_seconds"] = {"n": n, "cpu_seconds": round(largest["cpu_seconds"] * (n / largest["n"]) ** 2)}
        print(f"ROUGE-L extrapolated to {n} (quadratic): ~{result['rouge_l_extrapolated_cpu_seconds']['cpu_seconds']} s CPU")
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"{result['machine']}; {args.note + '; ' if args.note else ''}load average after {result['load_average_after']}")
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
