"""Every filter signal the project offers, beside trivial baselines, on the frozen labelled set (issue 20).

Run only after `labels.py freeze` (the script refuses otherwise). Two steps:

    python benchmarks/filter_set/signals.py compute [--judges]   # model signals -> signals.jsonl (cached calls)
    python benchmarks/filter_set/signals.py table                # thresholds fit on dev, measured on check

Each signal decides "keep" when it is above a threshold (or below, when dev says the signal runs the
other way); threshold and direction are fit on the dev split only, then applied once to the check
split. Accuracy is on the check split's keep / send_back items, with its Wilson 95% interval; the
difference to the best trivial baseline (the one best on dev) has a paired bootstrap 95% interval.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from labels import read_jsonl  # noqa: E402

DECISIONS = ("keep", "send_back")


def frozen_rows() -> list[dict]:
    """labels.jsonl, refused unless its sha256 equals FROZEN (labels are fixed before any signal)."""
    data = (HERE / "labels.jsonl").read_bytes()
    pinned = (HERE / "FROZEN").read_text().split()[0]
    if hashlib.sha256(data).hexdigest() != pinned:
        raise SystemExit("labels.jsonl differs from FROZEN: signals are computed on the frozen labels only")
    return read_jsonl(HERE / "labels.jsonl")


def trivial(row: dict) -> dict[str, float]:
    """Signals that read no model output beyond the texts' sizes: the product's trivial-rule features, and the iteration."""
    from codeclm.check.baselines import features

    return {**features(row["instruction"], row["strong"]["text"], row["target"]["text"]), "iteration": row["iteration"]}


def local_judge(session, scheme: str):
    """`scheme`'s judge on the program's judge model (the local 1.5B), at temperature 0: the verdicts this folder's
    scripts share through the call cache (keys `signals/<item id>`)."""
    from codeclm.judging.schemes import SCHEMES, make_judge
    from codeclm.models.roles import role_specs

    config = session.config
    lm = session.lm("judge", role_specs(config)["judge"], logprobs=SCHEMES[scheme].logprobs)
    return make_judge(scheme, config.prompt_library().render(SCHEMES[scheme].template), lm, temperature=0.0)


def compute(judges: bool, judges_only: bool = False) -> None:
    from codeclm.engine.chat_formats import prompt_prefix
    from codeclm.models.config import load_config
    from codeclm.judging.target_loss import new_word_losses
    from codeclm.programs.session import open_program

    rows = [r for r in frozen_rows() if r["label"] in DECISIONS]  # the decisions a signal makes; guards are measured apart
    target_name = rows[0]["models"]["target"].split("/")[-1]  # the wire name: openai/<local name>
    config = load_config(ROOT / "programs/codeclm.yaml", [f"models.target={{local: {target_name}}}", "judging.check.enabled=false"])
    out = {r["id"]: {k: v for k, v in r.items() if k != "id"} for r in read_jsonl(HERE / "signals.jsonl")} if judges_only else {}
    with open_program(config) as session:
        program = session.program
        system = program.rendered["respond"].instructions
        lms = {"target": session.lms["target"], "strong": session.lms["strong"]}

        def losses(role: str, instruction: str, answer: str) -> dict[str, float]:
            prefix = prompt_prefix("chatml", system, instruction)
            scored = lms[role].score(prefix + answer)
            tokens = [(lp, at - len(prefix)) for lp, at in zip(scored.logprobs, scored.offsets) if at >= len(prefix)]
            every = [-lp for lp, _ in tokens if lp is not None]
            new = new_word_losses(instruction, answer, tokens)
            return {"all": sum(every) / max(1, len(every)), "new": sum(new) / len(new) if new else 0.0,
                    "max": max(every, default=0.0)}

        for n, row in enumerate([] if judges_only else rows, 1):
            instruction, strong = row["instruction"], row["strong"]["text"]
            if not strong.strip():
                continue
            t, bare, s = losses("target", instruction, strong), losses("target", "", strong), losses("strong", instruction, strong)
            out[row["id"]] = {"target_loss_new_words": t["new"], "target_loss_all_tokens": t["all"], "target_loss_max_token": t["max"],
                              "ifd_target": t["all"] / max(1e-6, bare["all"]),
                              "loss_gap_target_minus_strong": t["all"] - s["all"],
                              "loss_gap_new_words": t["new"] - s["new"]}
            if n % 20 == 0:
                print(f"scored {n}/{len(rows)}", flush=True)
        if judges:
            for scheme in ("pointwise-logprob", "logprob-pairwise"):
                judge = local_judge(session, scheme)
                for n, row in enumerate(r for r in rows if r["label"] in DECISIONS):  # dev fits the threshold, check measures
                    try:
                        verdict = judge(instruction=row["instruction"], strong=row["strong"]["text"], target=row["target"]["text"],
                                        key=f"signals/{row['id']}")
                        out.setdefault(row["id"], {})[f"judge_{scheme}"] = verdict.gap
                    except Exception as exc:  # noqa: BLE001 - a failed verdict is left out and counted
                        print(f"{scheme} {row['id']}: {exc}", flush=True)
                    if n % 10 == 0:
                        print(f"{scheme}: {n}", flush=True)
    (HERE / "signals.jsonl").write_text("".join(json.dumps({"id": i, **v}) + "\n" for i, v in sorted(out.items())))
    print(f"signals.jsonl: {len(out)} items")


def auc(values: list[float], labels: list[str]) -> float:
    pos = [v for v, label in zip(values, labels) if label == "keep"]
    neg = [v for v, label in zip(values, labels) if label != "keep"]
    if not pos or not neg:
        return float("nan")
    return sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))


def category_rule(dev: list[dict]):
    """The trivial category baseline: each use case's majority label on dev (the overall majority for a new one)."""
    from codeclm.check.baselines import majority_by_use_case

    by_use_case = majority_by_use_case([r["label"] for r in dev], [r["metadata"]["use_case"] for r in dev])
    return lambda r: by_use_case(r["metadata"]["use_case"])


def threshold_rule(name: str, cut: float, direction: int):
    """keep / send_back by the signal `name` (None for an item without it)."""
    return lambda r: ("keep" if direction * (r["signals"][name] - cut) > 0 else "send_back") if name in r["signals"] else None


def table() -> dict:
    import datetime
    import os
    import platform

    from codeclm.check.baselines import balanced_accuracy as balanced, fit_threshold as fit

    rows = frozen_rows()
    signals = {r["id"]: r for r in read_jsonl(HERE / "signals.jsonl")} if (HERE / "signals.jsonl").exists() else {}
    for r in rows:
        r["signals"] = {**trivial(r), **{k: v for k, v in signals.get(r["id"], {}).items() if k != "id"}}
    dev = [r for r in rows if r["split"] == "dev" and r["label"] in DECISIONS]
    check = [r for r in rows if r["split"] == "check" and r["label"] in DECISIONS]
    names = sorted({k for r in rows for k in r["signals"]})
    trivial_names = set(trivial(rows[0]))
    majority = Counter(r["label"] for r in dev).most_common(1)[0][0]
    always = "always " + majority.replace("_", " ")
    rules = {always: lambda r: majority, "use case (dev majority per use case)": category_rule(dev)}
    results = [{"signal": name, "trivial": True, "threshold": None, "direction": None,
                "dev_balanced": balanced([rules[name](r) for r in dev], [r["label"] for r in dev]), "check_auc": float("nan")}
               for name in (always, "use case (dev majority per use case)")]
    for name in names:
        d = [r for r in dev if name in r["signals"]]
        c = [r for r in check if name in r["signals"]]
        if len(d) < 10 or not c:
            continue
        cut, direction, dev_score = fit([r["signals"][name] for r in d], [r["label"] for r in d])
        rules[name] = threshold_rule(name, cut, direction)
        results.append({"signal": name, "trivial": name in trivial_names, "threshold": cut, "direction": ">" if direction > 0 else "<",
                        "dev_balanced": dev_score, "check_auc": auc([r["signals"][name] for r in c], [r["label"] for r in c])})
    best_trivial = max((r for r in results if r["trivial"]), key=lambda r: r["dev_balanced"])["signal"]
    labels = [r["label"] for r in check]
    decided = {res["signal"]: [rules[res["signal"]](r) or "missing" for r in check] for res in results}
    rng = random.Random(0)
    boot = [[rng.randrange(len(check)) for _ in check] for _ in range(2000)]
    from codeclm.check.grading import wilson

    for res in results:
        mine, base = decided[res["signal"]], decided[best_trivial]
        right = [m == label for m, label in zip(mine, labels)]
        k, n = sum(right), len(check)
        lo, hi = wilson(k, n)
        diffs = sorted(balanced([mine[i] for i in idx], [labels[i] for i in idx]) - balanced([base[i] for i in idx], [labels[i] for i in idx])
                       for idx in boot)
        per = {d: (sum(rr for rr, label in zip(right, labels) if label == d), labels.count(d)) for d in DECISIONS}
        res.update({"check_right": k, "check_n": n, "check_accuracy": k / n, "ci": [lo, hi], "balanced": balanced(mine, labels),
                    "keep_right": f"{per['keep'][0]}/{per['keep'][1]}", "send_back_right": f"{per['send_back'][0]}/{per['send_back'][1]}",
                    "vs_best_trivial": [diffs[50], diffs[1949]]})
    results.sort(key=lambda r: (-r["balanced"], r["signal"]))
    out = {"check_items": len(check), "check_labels": dict(Counter(labels)), "dev_items": len(dev), "best_trivial": best_trivial,
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", "date": datetime.date.today().isoformat(),
           "rows": results}
    (HERE / "table.json").write_text(json.dumps(out, indent=1))
    print(f"check split: {len(check)} keep/send_back items ({Counter(labels)}); dev {len(dev)}; best trivial on dev: {best_trivial}")
    for r in results:
        print(f"{r['signal']:45s} balanced {r['balanced']:.2f} acc {r['check_accuracy']:.2f} keep {r['keep_right']} back "
              f"{r['send_back_right']} auc {r['check_auc']:.2f} vs trivial {r['vs_best_trivial'][0]:+.2f}..{r['vs_best_trivial'][1]:+.2f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["compute", "table"])
    parser.add_argument("--judges", action="store_true", help="also the LLM-judge schemes on the local judge (dev and check splits)")
    parser.add_argument("--judges-only", action="store_true", help="only the LLM-judge schemes, added to the signals.jsonl there is")
    args = parser.parse_args()
    compute(args.judges or args.judges_only, args.judges_only) if args.command == "compute" else table()


if __name__ == "__main__":
    main()
