"""A strong-model validity check before answering, measured on the frozen labelled set (issue 20 item 5).

The local strong model (Qwen2.5-Coder-1.5B, codeclm's embedded llama.cpp server) is asked ONE short question
per instruction (validity.jinja: can it be answered as given?) and answers one token; P(valid) is P(yes) /
(P(yes) + P(no)) over the first token's top_logprobs (P(no) when the template asks the opposite question). An instruction is dropped when P(valid) < t.

    python benchmarks/filter_set/validity.py compute --split dev    # P(valid) per dev item -> validity.jsonl
    python benchmarks/filter_set/validity.py fit                    # t on dev -> validity_threshold.json (commit it)
    python benchmarks/filter_set/validity.py compute --split check  # refused until the threshold is committed
    python benchmarks/filter_set/validity.py report                 # check figures -> benchmarks/results/

"Valid instruction" is every label but `invalid` (bad_answer, keep, send_back). The rule (fixed before the check
split is read): t is the cut that catches the most invalid dev items while the check alone drops at most 10% of
the valid dev items; the combination with the rule guard (codeclm.steps.guards.check_instruction) drops an item
when either flags it. The trivial baseline (instruction length in words, either direction) is fit by the same rule.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jinja2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from signals import frozen_rows  # refuses labels that differ from FROZEN  # noqa: E402 (after the sys.path line above)

TEMPLATE = HERE / "validity.jinja"
OUT = HERE / "validity.jsonl"
THRESHOLD = HERE / "validity_threshold.json"
RESULTS = ROOT / "benchmarks" / "results" / "validity_2026-12-07.json"
STRONG = "qwen2.5-coder-1.5b-instruct"
MAX_VALID_DROPPED = 0.10
SLOW_S = 15.0


def refuse(line: str) -> None:
    """One line on stderr, exit 2."""
    print(line, file=sys.stderr)
    sys.exit(2)


def template():
    """validity.jinja as a module: `system`, `examples`, `question(instruction)`, `valid_answer` ("yes" or "no")."""
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(TEMPLATE.read_text()).module


def valid_answer() -> str:
    """The answer that means "valid" (the template's `valid_answer`; "yes" when it declares none)."""
    return str(getattr(template(), "valid_answer", "yes"))


def prompt_messages(instruction: str) -> list[dict]:
    """System text, the few-shot examples as chat turns, then the question about `instruction` (validity.jinja)."""
    module = template()
    messages = [{"role": "system", "content": str(module.system).strip()}]
    for text, answer in module.examples:
        messages += [{"role": "user", "content": str(module.question(text))}, {"role": "assistant", "content": answer}]
    return messages + [{"role": "user", "content": str(module.question(instruction))}]


def p_valid(choice: dict, valid_answer: str) -> tuple[float | None, float]:
    """(P(valid_answer) / (P(yes) + P(no)), the yes+no mass) from the first token's top_logprobs; None when neither is there."""
    top = choice["logprobs"]["content"][0]["top_logprobs"]
    mass = {"yes": 0.0, "no": 0.0}
    for alt in top:
        word = alt["token"].strip(" \t\n\"'.:*").lower()
        if word in mass:
            mass[word] += math.exp(alt["logprob"])
    total = mass["yes"] + mass["no"]
    return (mass[valid_answer] / total if total > 0 else None), total


def committed(path: Path) -> str | None:
    """The last commit touching `path` when the file is tracked and unchanged since; None otherwise."""
    git = ["git", "-C", str(ROOT)]
    rel = str(path.relative_to(ROOT))
    if subprocess.run(git + ["ls-files", "--error-unmatch", rel], check=False, capture_output=True).returncode:
        return None
    if subprocess.run(git + ["diff", "--quiet", "HEAD", "--", rel], check=False).returncode:
        return None
    return subprocess.run(git + ["log", "-1", "--format=%H", "--", rel], check=False, capture_output=True, text=True).stdout.strip() or None


def read_rows() -> list[dict]:
    return [json.loads(line) for line in OUT.read_text().splitlines() if line.strip()] if OUT.exists() else []


def compute(split: str, cores: int) -> None:
    """P(valid) for every `split` item not yet scored with this template, appended to validity.jsonl.

    The server runs on `cores` CPUs (affinity, inherited; codeclm sizes its threads by it): on this shared 2-core
    VM, two llama.cpp threads among other agents' jobs spin at their barriers (27 prompt tokens: 15 s on 2 threads,
    1.9 s on 1, measured here under load ~7)."""
    from codeclm.local import open_endpoint

    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    os.environ.setdefault("CODECLM_PROMPT_CACHE_MB", "0")  # the server's own KV prefix reuse covers the fixed few-shot part;
    os.environ.setdefault("CODECLM_LOCAL_SLOTS", "1")  # a saved state would carry logits_all's scores; one request at a time

    if split == "check" and not committed(THRESHOLD):
        refuse(f"{THRESHOLD.name} is not committed (or changed since): fit and commit the threshold on dev first")
    template_sha = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:12]
    done = {r["id"] for r in read_rows() if r["template"] == template_sha}
    todo = [r for r in frozen_rows() if r["split"] == split and r["id"] not in done]
    started, load = time.time(), os.getloadavg()
    with contextlib.ExitStack() as stack, httpx.Client(timeout=600) as client:
        endpoint = open_endpoint(STRONG, stack, logprobs=True)
        print(f"{STRONG} at {endpoint.api_base} ({'started here' if endpoint.started_here else 'reused'}, "
              f"{time.time() - started:.0f} s); {len(todo)} {split} items, load {load[0]:.1f}", flush=True)
        for n, row in enumerate(todo, 1):
            t0 = time.time()
            reply = client.post(f"{endpoint.api_base}/chat/completions", json={
                "model": endpoint.model, "messages": prompt_messages(row["instruction"]), "max_tokens": 1,
                "temperature": 0.0, "logprobs": True, "top_logprobs": 20})
            reply.raise_for_status()
            choice = reply.json()["choices"][0]
            p, mass = p_valid(choice, valid_answer())
            seconds = time.time() - t0
            out = {"id": row["id"], "split": split, "p_valid": p, "label": row["label"], "yes_no_mass": round(mass, 4),
                   "token": choice["logprobs"]["content"][0]["token"], "seconds": round(seconds, 2), "template": template_sha}
            with OUT.open("a") as f:
                f.write(json.dumps(out) + "\n")
            if seconds > SLOW_S or n % 10 == 0:
                print(f"{n}/{len(todo)} {seconds:.1f} s{' (slow)' if seconds > SLOW_S else ''}", flush=True)
    print(f"{split}: {len(todo)} items in {time.time() - started:.0f} s; load {load[0]:.1f} -> {os.getloadavg()[0]:.1f}")


def instruction_words(row: dict) -> int:
    return len(row["instruction"].split())


def guard_flags(row: dict) -> bool:
    from codeclm.steps.guards import check_instruction

    return check_instruction(row["instruction"]) != "ok"


def fit_drop_rule(values: list[float], invalid: list[bool], directions: tuple[str, ...]) -> dict:
    """The cut that drops the most invalid items while dropping at most MAX_VALID_DROPPED of the valid ones
    (ties: fewer valid dropped, then the lower cut). Drop when value < cut ("<") or value > cut (">")."""
    points = sorted(set(values))
    cuts = [points[0] - 1] + [(a + b) / 2 for a, b in itertools.pairwise(points)] + [points[-1] + 1]
    allowed = math.floor(MAX_VALID_DROPPED * sum(not i for i in invalid))
    best = None
    for direction in directions:
        for cut in cuts:
            drop = [v < cut if direction == "<" else v > cut for v in values]
            caught = sum(d and i for d, i in zip(drop, invalid))
            lost = sum(d and not i for d, i in zip(drop, invalid))
            if lost <= allowed and (best is None or (caught, -lost) > (best["caught"], -best["lost"])):
                best = {"direction": direction, "cut": cut, "caught": caught, "lost": lost}
    return best


def auc(scores: list[float], positive: list[bool]) -> float:
    """P(a positive scores above a negative), ties half."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))


def figures(rows: list[dict], drop: list[bool]) -> dict:
    from codeclm.check.grading import wilson

    invalid = [r["label"] == "invalid" for r in rows]
    caught, n_inv = sum(d and i for d, i in zip(drop, invalid)), sum(invalid)
    lost, n_val = sum(d and not i for d, i in zip(drop, invalid)), len(rows) - sum(invalid)
    by_label = {lab: f"{sum(d for d, r in zip(drop, rows) if r['label'] == lab)}/{sum(r['label'] == lab for r in rows)}"
                for lab in ("bad_answer", "keep", "send_back")}
    return {"invalid_caught": f"{caught}/{n_inv}", "invalid_caught_ci": [round(x, 3) for x in wilson(caught, n_inv)],
            "valid_dropped": f"{lost}/{n_val}", "valid_dropped_ci": [round(x, 3) for x in wilson(lost, n_val)],
            "valid_dropped_by_label": by_label}


def decide(rows: list[dict], rule: dict, key) -> list[bool]:
    return [(key(r) < rule["cut"]) if rule["direction"] == "<" else (key(r) > rule["cut"]) for r in rows]


def p_or_valid(row: dict) -> float:
    return row["p_valid"] if row["p_valid"] is not None else 1.0  # no yes/no among the top tokens: not dropped


def split_rows(split: str) -> list[dict]:
    labels = {r["id"]: r for r in frozen_rows() if r["split"] == split}
    template_sha = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:12]
    scored = {r["id"]: r for r in read_rows() if r["template"] == template_sha and r["id"] in labels}
    if len(scored) != len(labels):
        refuse(f"{len(scored)} of {len(labels)} {split} items scored with this template: run compute --split {split}")
    return [{**labels[i], **scored[i]} for i in labels]


def timing(rows: list[dict]) -> dict:
    s = [r["seconds"] for r in rows]
    return {"items": len(s), "total_s": round(sum(s)), "median_s": round(statistics.median(s), 2), "max_s": max(s),
            "over_15_s": sum(x > SLOW_S for x in s), "no_yes_no_in_top20": sum(r["p_valid"] is None for r in rows)}


def fit() -> None:
    rows = split_rows("dev")
    invalid = [r["label"] == "invalid" for r in rows]
    validity = fit_drop_rule([p_or_valid(r) for r in rows], invalid, ("<",))
    length = fit_drop_rule([instruction_words(r) for r in rows], invalid, ("<", ">"))
    guard = [guard_flags(r) for r in rows]
    check = decide(rows, validity, p_or_valid)
    table = [{"t": t, **figures(rows, [p_or_valid(r) < t for r in rows]),
              "with_guard": figures(rows, [g or p_or_valid(r) < t for g, r in zip(guard, rows)])["invalid_caught"]}
             for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    out = {"rule": f"drop when P(valid) < t; t = the cut catching the most invalid dev items with at most "
                   f"{MAX_VALID_DROPPED:.0%} of valid dev items dropped by the check alone (fixed before check was read)",
           "threshold": validity["cut"], "template_sha": hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:12],
           "dev": {"items": len(rows), "auc_invalid_vs_valid": round(auc([-p_or_valid(r) for r in rows], invalid), 3),
                   "validity": figures(rows, check), "guard": figures(rows, guard),
                   "validity_or_guard": figures(rows, [c or g for c, g in zip(check, guard)]),
                   "length_rule": {**length, **figures(rows, decide(rows, length, instruction_words))},
                   "length_or_guard": figures(rows, [s or g for s, g in zip(decide(rows, length, instruction_words), guard)]),
                   "length_auc_shorter_is_invalid": round(auc([-float(instruction_words(r)) for r in rows], invalid), 3),
                   "at_thresholds": table, "timing": timing(rows)}}
    THRESHOLD.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


def kept_today() -> list:
    """The check split's items the product keeps today, replayed from the check cassette (docs/figures.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("figures", ROOT / "docs" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [r for r in module.filter_check().results if r.decided == "keep"]


def report() -> None:
    import datetime
    import platform

    from codeclm.check.grading import wilson

    fixed = json.loads(THRESHOLD.read_text())
    t, rows = fixed["threshold"], split_rows("check")
    dev = split_rows("dev")
    length_rule = fixed["dev"]["length_rule"]
    check = [p_or_valid(r) < t for r in rows]
    guard = [guard_flags(r) for r in rows]
    by_id = {r["id"]: r for r in rows}
    kept = kept_today()
    unusable = [k for k in kept if k.label in ("invalid", "bad_answer")]
    removed_unusable = [k for k in unusable if p_or_valid(by_id[k.id]) < t]
    usable = [k for k in kept if k.label not in ("invalid", "bad_answer")]
    removed_usable = [k for k in usable if p_or_valid(by_id[k.id]) < t]
    left = len(kept) - len(removed_unusable) - len(removed_usable)

    def short(item) -> bool:  # the trivial baseline's cut, fit on dev
        return decide([by_id[item.id]], length_rule, instruction_words)[0]

    left_unusable = len(unusable) - len(removed_unusable)
    cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout.splitlines()
                if line.startswith("Model name")), platform.processor())
    out = {"date": datetime.date.today().isoformat(), "threshold": t, "threshold_commit": committed(THRESHOLD),
           "rule": fixed["rule"], "template_sha": fixed["template_sha"], "model": STRONG,
           "machine": f"{cpu}, {os.cpu_count()} cores (a VM shared with other agents' tests and model runs)",
           "dev": fixed["dev"] | {"timing": timing(dev)},
           "check": {"items": len(rows), "auc_invalid_vs_valid": round(auc([-p_or_valid(r) for r in rows], [r["label"] == "invalid" for r in rows]), 3),
                     "length_auc_shorter_is_invalid": round(auc([-float(instruction_words(r)) for r in rows],
                                                                 [r["label"] == "invalid" for r in rows]), 3),
                     "validity": figures(rows, check), "guard": figures(rows, guard),
                     "validity_or_guard": figures(rows, [c or g for c, g in zip(check, guard)]),
                     "length_rule": {"direction": length_rule["direction"], "cut": length_rule["cut"],
                                     **figures(rows, decide(rows, length_rule, instruction_words))},
                     "length_or_guard": figures(rows, [s or g for s, g in zip(decide(rows, length_rule, instruction_words), guard)]),
                     "timing": timing(rows)},
           "kept_today": {"kept": len(kept), "unusable": len(unusable),
                          "unusable_removed": f"{len(removed_unusable)}/{len(unusable)}",
                          "unusable_removed_ci": [round(x, 3) for x in wilson(len(removed_unusable), len(unusable))],
                          "usable_lost": f"{len(removed_usable)}/{len(usable)}",
                          "usable_lost_ci": [round(x, 3) for x in wilson(len(removed_usable), len(usable))],
                          "kept_unusable_after": f"{left_unusable}/{left}",
                          "kept_unusable_after_ci": [round(x, 3) for x in wilson(left_unusable, left)] if left else None,
                          "removed_ids": sorted(k.id for k in removed_unusable + removed_usable),
                          "length_rule_unusable_removed": f"{sum(short(k) for k in unusable)}/{len(unusable)}",
                          "length_rule_usable_lost": f"{sum(short(k) for k in usable)}/{len(usable)}"}}
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    compute_args = sub.add_parser("compute")
    compute_args.add_argument("--split", choices=("dev", "check"), required=True)
    compute_args.add_argument("--cores", type=int, default=1, help="CPUs the server may use (0: all)")
    sub.add_parser("fit")
    sub.add_parser("report")
    args = parser.parse_args()
    {"compute": lambda: compute(args.split, args.cores), "fit": fit, "report": report}[args.command]()


if __name__ == "__main__":
    main()
