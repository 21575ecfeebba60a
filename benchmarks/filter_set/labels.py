"""Blind labelling of the filter's check set (docs/filter_labels.md): reading packets, merging the
readers' answers into labels, agreement, and the frozen dev/check split.

    python benchmarks/filter_set/labels.py watch                 # items.jsonl -> pass{1,2}/packet_*.md as items arrive
    python benchmarks/filter_set/labels.py packets  --pass 1     # the same, once
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


def make_packets(items: list[dict], number: int) -> int:
    """New packets of PER_PACKET items (the last one smaller once items.jsonl is DONE) for pass `number`: items in a
    random order within a packet, answers as A/B in a random order per item and per pass. The key (which letter is
    the strong answer) stays in key_pass{number}.json, outside the packet folder. Returns the packets written."""
    folder = HERE / f"pass{number}"
    folder.mkdir(exist_ok=True)
    key_path = HERE / f"key_pass{number}.json"
    key = json.loads(key_path.read_text()) if key_path.exists() else {}
    fresh = [i for i in items if i["id"] not in key]
    done = (HERE / "DONE").exists()
    written = 0
    while len(fresh) >= PER_PACKET or (done and fresh):
        batch, fresh = fresh[:PER_PACKET], fresh[PER_PACKET:]
        packet = len(list(folder.glob("packet_*.md"))) + 1
        rng = random.Random(f"pass{number}/packet{packet}")
        rng.shuffle(batch)
        lines = []
        for item in batch:
            strong_first = rng.random() < 0.5
            key[item["id"]] = "A" if strong_first else "B"
            a, b = (item["strong"], item["target"]) if strong_first else (item["target"], item["strong"])
            lines += [f"## item {item['id']}", "", "### Instruction", item["instruction"], "", "### Answer A", shown(a), "",
                      "### Answer B", shown(b), "", "---", ""]
        (folder / f"packet_{packet:02d}.md").write_text("\n".join(lines))
        key_path.write_text(json.dumps(key, indent=0, sort_keys=True))
        written += 1
    if done and not fresh:
        (folder / "ALL_PACKETS_WRITTEN").write_text(f"{len(key)} items\n")
    return written


def watch(numbers: list[int]) -> None:
    """Write packets for each pass as items arrive, until items.jsonl is DONE and every item is packed."""
    import time

    while True:
        items = read_jsonl(HERE / "items.jsonl") if (HERE / "items.jsonl").exists() else []
        for number in numbers:
            if make_packets(items, number):
                print(f"pass {number}: packets up to {len(list((HERE / f'pass{number}').glob('packet_*.md')))}", flush=True)
        if all((HERE / f"pass{n}" / "ALL_PACKETS_WRITTEN").exists() for n in numbers):
            return
        time.sleep(20)


def label_of(answer: dict, strong_is: str) -> str:
    """The reader's three answers -> the filter's label, with the strong answer's letter from the key."""
    if not answer["valid"]:
        return "invalid"
    if not answer[f"{strong_is}_usable"]:
        return "bad_answer"
    return "keep" if answer["better"] == strong_is else "send_back"


def read_pass(number: int) -> dict[str, dict]:
    key = json.loads((HERE / f"key_pass{number}.json").read_text())
    answers = {a["id"]: a for path in sorted((HERE / f"pass{number}").glob("answers_*.jsonl")) for a in read_jsonl(path)}
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
    current = {i["id"] for i in read_jsonl(HERE / "items.jsonl")}  # items a rerun of make_items replaced are not in the set
    ids = sorted(set(p1) & set(p2) & current)
    a, b = [p1[i]["label"] for i in ids], [p2[i]["label"] for i in ids]
    k, lo, hi = bootstrap_kappa(a, b)
    both = [i for i in ids if {p1[i]["label"], p2[i]["label"]} <= {"keep", "send_back"}]
    kd = bootstrap_kappa([p1[i]["label"] for i in both], [p2[i]["label"] for i in both])
    result = {"items": len(ids), "agree": sum(x == y for x, y in zip(a, b)), "kappa": round(k, 3),
              "kappa_ci": [round(lo, 3), round(hi, 3)], "decision_items": len(both),
              "decision_kappa": round(kd[0], 3), "decision_kappa_ci": [round(kd[1], 3), round(kd[2], 3)],
              "pass1": dict(Counter(a)), "pass2": dict(Counter(b))}
    print(json.dumps(result, indent=1))
    (HERE / "agreement.json").write_text(json.dumps(result, indent=1) + "\n")
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
    print(f"labels.jsonl: {len(rows)} items; " + ", ".join(f"{s}/{label} {n}" for (s, label), n in sorted(by.items())))


def disagreements() -> None:
    """What the adjudicator reads: items whose two labels differ, with both readers' answers (no signal)."""
    p1, p2 = read_pass(1), read_pass(2)
    items = {i["id"]: i for i in read_jsonl(HERE / "items.jsonl")}
    lines = []
    for i in sorted(set(p1) & set(p2) & set(items)):
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
    parser.add_argument("command", choices=["packets", "watch", "merge", "agreement", "disagreements", "freeze"])
    parser.add_argument("--pass", dest="number", type=int, default=1)
    args = parser.parse_args()
    if args.command == "packets":
        make_packets(read_jsonl(HERE / "items.jsonl"), args.number)
    elif args.command == "watch":
        watch([1, 2])
    else:
        {"merge": merge, "agreement": agreement, "disagreements": disagreements, "freeze": freeze}[args.command]()


if __name__ == "__main__":
    main()
