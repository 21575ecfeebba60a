"""Blind labelling of the filter's check set (docs/filter_labels.md): reading packets, merging the
readers' answers into labels, agreement, and the frozen dev/check split.

    python benchmarks/filter_set/labels.py packets  --pass 1     # items.jsonl -> pass1/packet_*.md + pass1/key.json
    python benchmarks/filter_set/labels.py merge                 # pass1/2 answers (+ adjudication) -> labels.jsonl
    python benchmarks/filter_set/labels.py agreement             # Cohen's kappa with a bootstrap interval
    python benchmarks/filter_set/labels.py freeze                # writes FROZEN (sha256 of labels.jsonl)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = ("invalid", "bad_answer", "keep", "send_back")
PER_PACKET = 40


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def split_of(metadata_id: str) -> str:
    """`check` when the first hex digit of sha256(metadata_id) is even, else `dev` (all of a metadata on one side)."""
    return "check" if int(hashlib.sha256(metadata_id.encode()).hexdigest()[0], 16) % 2 == 0 else "dev"


def shown(answer: dict) -> str:
    cut = "\n[cut off at the token cap]" if answer.get("finish_reason") == "length" else ""
    return (answer["text"] or "(empty)") + cut


def make_packets(items: list[dict], number: int) -> None:
    """Items in a random order, answers as A/B in a random order per item; the key stays out of the packets."""
    rng = random.Random(f"pass{number}")
    order = items[:]
    rng.shuffle(order)
    folder = HERE / f"pass{number}"
    folder.mkdir(exist_ok=True)
    key = {}
    for start in range(0, len(order), PER_PACKET):
        lines = []
        for item in order[start:start + PER_PACKET]:
            strong_first = rng.random() < 0.5
            key[item["id"]] = "A" if strong_first else "B"
            a, b = (item["strong"], item["target"]) if strong_first else (item["target"], item["strong"])
            lines += [f"## item {item['id']}", "", "### Instruction", item["instruction"], "", "### Answer A", shown(a), "",
                      "### Answer B", shown(b), "", "---", ""]
        (folder / f"packet_{start // PER_PACKET + 1:02d}.md").write_text("\n".join(lines))
    (HERE / f"key_pass{number}.json").write_text(json.dumps(key, indent=0, sort_keys=True))
    print(f"pass {number}: {len(order)} items in {folder}")


def label_of(answer: dict, strong_is: str) -> str:
    """The reader's three answers -> the filter's label, with the strong answer's letter from the key."""
    if not answer["valid"]:
        return "invalid"
    if not answer[f"{strong_is}_usable"]:
        return "bad_answer"
    return "keep" if answer["better"] == strong_is else "send_back"


def read_pass(number: int) -> dict[str, dict]:
    key = json.loads((HERE / f"key_pass{number}.json").read_text())
    answers = {a["id"]: a for a in read_jsonl(HERE / f"pass{number}" / "answers.jsonl")}
    return {i: {**a, "label": label_of(a, key[i])} for i, a in answers.items()}


def kappa(a: list[str], b: list[str]) -> float:
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(a) | set(b)) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def bootstrap_kappa(a: list[str], b: list[str], resamples: int = 2000) -> tuple[float, float, float]:
    rng = random.Random(0)
    n, values = len(a), []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        values.append(kappa([a[i] for i in idx], [b[i] for i in idx]))
    values.sort()
    return kappa(a, b), values[int(0.025 * resamples)], values[int(0.975 * resamples) - 1]


def agreement() -> dict:
    p1, p2 = read_pass(1), read_pass(2)
    ids = sorted(set(p1) & set(p2))
    a, b = [p1[i]["label"] for i in ids], [p2[i]["label"] for i in ids]
    k, lo, hi = bootstrap_kappa(a, b)
    both = [i for i in ids if {p1[i]["label"], p2[i]["label"]} <= {"keep", "send_back"}]
    kd = bootstrap_kappa([p1[i]["label"] for i in both], [p2[i]["label"] for i in both])
    result = {"items": len(ids), "agree": sum(x == y for x, y in zip(a, b)), "kappa": round(k, 3),
              "kappa_ci": [round(lo, 3), round(hi, 3)], "decision_items": len(both),
              "decision_kappa": round(kd[0], 3), "decision_kappa_ci": [round(kd[1], 3), round(kd[2], 3)],
              "pass1": dict(Counter(a)), "pass2": dict(Counter(b))}
    print(json.dumps(result, indent=1))
    return result


def merge() -> None:
    """labels.jsonl: every item with both passes' labels and reasons, the adjudicated label, and its split."""
    items = {i["id"]: i for i in read_jsonl(HERE / "items.jsonl")}
    p1, p2 = read_pass(1), read_pass(2)
    adjudicated = {}
    path = HERE / "adjudication.jsonl"
    if path.exists():
        adjudicated = {r["id"]: r for r in read_jsonl(path)}
    rows, missing = [], []
    for i, item in items.items():
        one, two = p1.get(i), p2.get(i)
        if not one or not two:
            missing.append(i)
            continue
        if one["label"] == two["label"]:
            label, reason, how = one["label"], one["reason"], "agreed"
        elif i in adjudicated:
            label, reason, how = adjudicated[i]["label"], adjudicated[i]["reason"], "adjudicated"
        else:
            missing.append(i)
            continue
        assert label in LABELS, (i, label)
        rows.append({**{k: item[k] for k in ("id", "seed_source", "metadata_id", "metadata", "iteration", "action",
                                             "instruction", "strong", "target", "models")},
                     "label": label, "reason": reason, "decided": how, "split": split_of(item["metadata_id"]),
                     "pass1": {"label": one["label"], "reason": one["reason"]},
                     "pass2": {"label": two["label"], "reason": two["reason"]}})
    if missing:
        print(f"{len(missing)} items lack a pass or an adjudication, e.g. {missing[:5]}")
    rows.sort(key=lambda r: r["id"])
    (HERE / "labels.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    by = Counter((r["split"], r["label"]) for r in rows)
    print(f"labels.jsonl: {len(rows)} items; " + ", ".join(f"{s}/{l} {n}" for (s, l), n in sorted(by.items())))


def disagreements() -> None:
    """What the adjudicator reads: items whose two labels differ, with both readers' answers (no signal)."""
    p1, p2 = read_pass(1), read_pass(2)
    items = {i["id"]: i for i in read_jsonl(HERE / "items.jsonl")}
    lines = []
    for i in sorted(set(p1) & set(p2)):
        if p1[i]["label"] != p2[i]["label"]:
            it = items[i]
            lines += [f"## item {i}", "", "### Instruction", it["instruction"], "", "### Strong answer (the candidate training answer)",
                      shown(it["strong"]), "", "### Target answer", shown(it["target"]), "",
                      f"reader 1: {p1[i]['label']} ({p1[i]['reason']})", f"reader 2: {p2[i]['label']} ({p2[i]['reason']})", "", "---", ""]
    (HERE / "disagreements.md").write_text("\n".join(lines))
    print(f"{lines.count('---')} disagreements -> disagreements.md")


def freeze() -> None:
    digest = hashlib.sha256((HERE / "labels.jsonl").read_bytes()).hexdigest()
    (HERE / "FROZEN").write_text(f"{digest}  labels.jsonl\n")
    print(digest)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["packets", "merge", "agreement", "disagreements", "freeze"])
    parser.add_argument("--pass", dest="number", type=int, default=1)
    args = parser.parse_args()
    if args.command == "packets":
        make_packets(read_jsonl(HERE / "items.jsonl"), args.number)
    else:
        {"merge": merge, "agreement": agreement, "disagreements": disagreements, "freeze": freeze}[args.command]()


if __name__ == "__main__":
    main()
