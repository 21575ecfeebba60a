"""Decode templates A/B: how many of the instructions each one makes can be answered as given (issue 20).

Both templates decode the same metadata (use case + skills, as Encode made them for the labelled filter set)
with the program's own Decode step, models and temperature. Readers then label every instruction blind to the
template (one shuffled sheet, a key kept apart), by docs/filter_labels.md question 1 ("Is the instruction
valid?"), with a reason per item; two passes give the agreement.

    python benchmarks/decode_validity/decode_validity.py decode --prompts prompts --name A --split check
    python benchmarks/decode_validity/decode_validity.py decode --prompts /path/to/candidate --name B --split check
    python benchmarks/decode_validity/decode_validity.py sheet --names A B          # sheet.jsonl + key.json
    python benchmarks/decode_validity/decode_validity.py score --passes pass1.jsonl pass2.jsonl --adjudicated adj.jsonl
    python benchmarks/decode_validity/decode_validity.py guards --first pass1.jsonl --adjudicated adj.jsonl --old OLD_guards.py
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LABELLED = ROOT / "codeclm/datasets/check/labelled.jsonl"
sys.path.insert(0, str(HERE.parent / "filter_set"))
from labels import kappa  # noqa: E402  (the filter set's Cohen's kappa: any labels, here valid / invalid)

from codeclm.check.grading import wilson  # noqa: E402


def metadata_of(split: str) -> list[dict]:
    """The labelled set's metadata of one split, in file order, each once."""
    seen, out = set(), []
    for line in LABELLED.read_text().splitlines():
        row = json.loads(line)
        if row["split"] == split and row["metadata_id"] not in seen:
            seen.add(row["metadata_id"])
            out.append({"metadata_id": row["metadata_id"], "metadata": row["metadata"]})
    return out


def decode(args) -> None:
    from codeclm.executors import ThreadExecutor
    from codeclm.models.config import load_config
    from codeclm.programs.codeclm import metadata_item
    from codeclm.programs.session import open_program
    from codeclm.steps.signatures import Metadata

    overrides = [f"prompts={Path(args.prompts).resolve()}", f"instructions_per_metadata={args.per_metadata}",
                 "judging.check.enabled=false", f"concurrency={args.concurrency}", f"seed={args.seed}"]
    config = load_config(ROOT / "programs/codeclm.yaml", overrides)
    metas = metadata_of(args.split)[: args.limit or None]
    out = HERE / f"decoded_{args.split}_{args.name}.jsonl"
    started = time.time()
    with open_program(config) as session:
        program = session.program
        items = [metadata_item(Metadata(**m["metadata"]), f"labelled:{m['metadata_id']}") for m in metas]
        outcomes = ThreadExecutor(args.concurrency).map("decode", program.decode_metadata, items)
        rows = []
        for meta, o in zip(metas, outcomes):
            for k, text in enumerate(o.value if o.ok else []):
                rows.append({"variant": args.name, "metadata_id": meta["metadata_id"], "metadata": meta["metadata"], "k": k,
                             "instruction": text, "template_sha256": program.templates["decode"]})
            if not o.ok:
                rows.append({"variant": args.name, "metadata_id": meta["metadata_id"], "metadata": meta["metadata"], "k": None,
                             "instruction": None, "error": str(o.error)})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{args.name}: {sum(1 for r in rows if r['instruction'])} instructions from {len(metas)} metadata in "
          f"{time.time() - started:.0f} s -> {out}")


def sheet(args) -> None:
    rows = [json.loads(line) for name in args.names for line in (HERE / f"decoded_{args.split}_{name}.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["instruction"]]
    random.Random(args.shuffle_seed).shuffle(rows)
    key, lines = {}, []
    for n, r in enumerate(rows, 1):
        blind = f"d{n:03d}"
        key[blind] = {"variant": r["variant"], "metadata_id": r["metadata_id"], "k": r["k"]}
        lines.append(json.dumps({"id": blind, "use_case": r["metadata"]["use_case"], "instruction": r["instruction"]}))
    (HERE / f"sheet_{args.split}.jsonl").write_text("\n".join(lines) + "\n")
    (HERE / f"key_{args.split}.json").write_text(json.dumps(key, indent=1) + "\n")
    print(f"{len(lines)} instructions -> sheet_{args.split}.jsonl (key apart: key_{args.split}.json)")


def score(args) -> None:
    key = json.loads((HERE / f"key_{args.split}.json").read_text())
    passes = [{(r := json.loads(line))["id"]: r for line in Path(p).read_text().splitlines() if line.strip()} for p in args.passes]
    final = {}
    if args.adjudicated:
        final = {(r := json.loads(line))["id"]: r["valid"] for line in Path(args.adjudicated).read_text().splitlines() if line.strip()}
    ids = sorted(key)
    missing = [i for i in ids if any(i not in p for p in passes)]
    if missing:
        raise SystemExit(f"{len(missing)} ids unlabelled in a pass, e.g. {missing[:3]}")
    first = [bool(passes[0][i]["valid"]) for i in ids]
    second = [bool(passes[-1][i]["valid"]) for i in ids]
    rng = random.Random(0)
    boot = []
    for _ in range(2000):
        sample = [rng.randrange(len(ids)) for _ in ids]
        boot.append(kappa([first[s] for s in sample], [second[s] for s in sample]))
    boot.sort()
    disagree = [i for i, x, y in zip(ids, first, second) if x != y]
    unresolved = [i for i in disagree if i not in final]
    if unresolved:
        raise SystemExit(f"{len(unresolved)} disagreements not adjudicated, e.g. {unresolved[:3]}: pass --adjudicated")
    valid = {i: final.get(i, passes[0][i]["valid"]) for i in ids}
    result = {"split": args.split, "n": len(ids), "agreement": sum(x == y for x, y in zip(first, second)),
              "kappa": round(kappa(first, second), 3), "kappa_ci95": [round(boot[49], 3), round(boot[1949], 3)],
              "disagreements": len(disagree), "machine": f"{platform.machine()}, {platform.node()}", "variants": {}}
    variants = sorted({v["variant"] for v in key.values()})
    by_variant = {v: [not valid[i] for i in ids if key[i]["variant"] == v] for v in variants}
    for v, invalid in by_variant.items():
        lo, hi = wilson(sum(invalid), len(invalid))
        result["variants"][v] = {"n": len(invalid), "invalid": sum(invalid), "share": round(sum(invalid) / len(invalid), 3),
                                 "wilson95": [round(lo, 3), round(hi, 3)]}
    if len(variants) == 2:  # bootstrap over metadata (both variants decoded the same metadata): difference in invalid share
        a, b = variants
        per_meta = {}
        for i in ids:
            per_meta.setdefault(key[i]["metadata_id"], {a: [], b: []})[key[i]["variant"]].append(not valid[i])
        metas = sorted(per_meta)
        diffs = []
        for _ in range(2000):
            sample = [metas[rng.randrange(len(metas))] for _ in metas]
            xa = [x for m in sample for x in per_meta[m][a]]
            xb = [x for m in sample for x in per_meta[m][b]]
            if xa and xb:
                diffs.append(sum(xb) / len(xb) - sum(xa) / len(xa))
        diffs.sort()
        result["difference"] = {"of": f"{b} - {a}", "point": round(result["variants"][b]["share"] - result["variants"][a]["share"], 3),
                                "bootstrap95_over_metadata": [round(diffs[int(0.025 * len(diffs))], 3), round(diffs[int(0.975 * len(diffs)) - 1], 3)]}
    print(json.dumps(result, indent=1))
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1) + "\n")


def guards(args) -> None:
    """Each instruction guard (and the word-count rule fit on the labelled set) on the read instructions: invalid caught,
    valid dropped, with Wilson intervals. `--old` names a guards module file from an earlier commit."""
    import importlib.util

    from codeclm.steps import guards as current

    key = json.loads((HERE / f"key_{args.split}.json").read_text())
    sheet = {(r := json.loads(line))["id"]: r for line in (HERE / f"sheet_{args.split}.jsonl").read_text().splitlines()}
    final = {(r := json.loads(line))["id"]: r["valid"] for line in Path(args.adjudicated).read_text().splitlines() if line.strip()}
    first = {(r := json.loads(line))["id"]: r["valid"] for line in Path(args.first).read_text().splitlines() if line.strip()}
    valid = {i: final.get(i, first[i]) for i in key}
    rules = {"guards (this commit)": lambda t: current.check_instruction(t) != "ok",
             f"fewer than {args.words} words (fit on the labelled set's dev split)": lambda t: len(t.split()) < args.words}
    if args.old:
        spec = importlib.util.spec_from_file_location("old_guards", args.old)
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
        rules = {"guards (before)": lambda t: old.check_instruction(t) != "ok", **rules}
    n_invalid, n_valid = sum(not v for v in valid.values()), sum(valid.values())
    table = {}
    for name, rule in rules.items():
        caught = sum(1 for i, v in valid.items() if not v and rule(sheet[i]["instruction"]))
        dropped = sum(1 for i, v in valid.items() if v and rule(sheet[i]["instruction"]))
        kept = [i for i in valid if not rule(sheet[i]["instruction"])]
        left_invalid = sum(1 for i in kept if not valid[i])
        table[name] = {"invalid_caught": [caught, n_invalid, [round(x, 3) for x in wilson(caught, n_invalid)]],
                       "valid_dropped": [dropped, n_valid, [round(x, 3) for x in wilson(dropped, n_valid)]],
                       "invalid_share_after": [left_invalid, len(kept), [round(x, 3) for x in wilson(left_invalid, len(kept))]]}
        print(f"{name}: invalid caught {caught}/{n_invalid}, valid dropped {dropped}/{n_valid}, invalid among the rest "
              f"{left_invalid}/{len(kept)}")
    if args.save:
        Path(args.save).write_text(json.dumps({"split": args.split, "n": len(valid), "rules": table}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decode")
    d.add_argument("--prompts", required=True)
    d.add_argument("--name", required=True)
    d.add_argument("--split", default="dev", choices=["dev", "check"])
    d.add_argument("--limit", type=int, default=0)
    d.add_argument("--per-metadata", type=int, default=2)
    d.add_argument("--concurrency", type=int, default=8)
    d.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("sheet")
    s.add_argument("--names", nargs="+", required=True)
    s.add_argument("--split", default="check")
    s.add_argument("--shuffle-seed", type=int, default=20)
    c = sub.add_parser("score")
    c.add_argument("--passes", nargs="+", required=True)
    c.add_argument("--split", default="check")
    c.add_argument("--adjudicated")
    c.add_argument("--save")
    g = sub.add_parser("guards")
    g.add_argument("--split", default="check")
    g.add_argument("--first", required=True, help="the first reading pass (labels where the passes agreed)")
    g.add_argument("--adjudicated", required=True)
    g.add_argument("--old", help="a guards.py from an earlier commit")
    g.add_argument("--words", type=float, default=9.5)
    g.add_argument("--save")
    args = parser.parse_args()
    {"decode": decode, "sheet": sheet, "score": score, "guards": guards}[args.command](args)


if __name__ == "__main__":
    main()
