"""`codeclm report`: what a generated dataset holds, side by side for several datasets, with PNG plots.

Counts, metadata coverage (use cases, skills), Self-Rubrics iteration histogram,
kept-by-source, length statistics, diversity (distinct-n over instruction tokens,
mean pairwise ROUGE-L F1 over a seeded sample of instructions), and instructions that
overlap a bundled benchmark item (codeclm.evaluation.overlap), with a few examples.
"""

from __future__ import annotations

import io
import itertools
import math
import json
import random
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from codeclm.errors import CodecLMError
from codeclm.output.jsonl import JsonlError, read_rows
from codeclm.evaluation.overlap import overlap_summary
from codeclm.console.tables import print_table


class ReportError(CodecLMError):
    """A dataset file that is missing, empty or not in the Record format."""


def load_records(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: dataset file not found")
    try:
        rows = read_rows(path, fix="fix or delete that line")
    except JsonlError as exc:
        raise ReportError(str(exc)) from None
    if not rows:
        raise ReportError(f"{path}: no records in file")
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or "instruction" not in row or "response" not in row:
            raise ReportError(f"{path}: row {number} has no 'instruction'/'response': not a codeclm dataset")
    return rows


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct n-grams / all n-grams over whitespace tokens (lowercased); 0 when there are none."""
    grams = [tuple(t[i:i + n]) for t in (x.lower().split() for x in texts) for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def mean_pairwise_rouge_l(texts: list[str], sample: int = 100, seed: int = 0) -> float | None:
    """Mean ROUGE-L F1 over all pairs of a seeded sample (lower = more diverse)."""
    from rouge_score import rouge_scorer

    if len(texts) < 2:
        return None
    chosen = random.Random(seed).sample(texts, min(sample, len(texts)))
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    scores = [scorer.score(a, b)["rougeL"].fmeasure for a, b in itertools.combinations(chosen, 2)]
    return sum(scores) / len(scores)


def _lengths(texts: list[str]) -> dict[str, float]:
    words = sorted(len(t.split()) for t in texts)
    return {"mean": round(statistics.fmean(words), 1), "median": statistics.median(words),
            "p90": words[math.ceil(0.9 * len(words)) - 1], "max": words[-1]}  # nearest-rank percentile


def dataset_stats(path: str | Path, sample: int = 100, seed: int = 0) -> dict[str, Any]:
    """Every number the report shows for one dataset (a dict, also written as JSON)."""
    rows = load_records(path)
    instructions = [r["instruction"] for r in rows]
    metas = [r.get("metadata") for r in rows if r.get("metadata")]
    dropped = Path(path).with_name(Path(path).stem + ".dropped.jsonl")
    return {
        "path": str(path),
        "name": Path(path).stem,
        "programs": dict(Counter(r.get("program", "?") for r in rows)),
        "records": len(rows),
        "dropped": len({r.get("id") for r in read_rows(dropped)}) if dropped.exists() else None,
        "with_metadata": len(metas),
        "use_cases": len({m["use_case"].lower() for m in metas}),
        "skills": len({s.lower() for m in metas for s in m.get("skills", [])}),
        "top_use_cases": Counter(m["use_case"].lower() for m in metas).most_common(10),
        "iterations": dict(sorted(Counter(r.get("iteration") or 1 for r in rows).items())),
        "kept_by_source": dict(Counter(r.get("response_source") or "?" for r in rows)),
        "instruction_words": _lengths(instructions),
        "response_words": _lengths([r["response"] for r in rows]),
        "distinct_1": round(distinct_n(instructions, 1), 4),
        "distinct_2": round(distinct_n(instructions, 2), 4),
        "mean_pairwise_rouge_l": _round(mean_pairwise_rouge_l(instructions, sample, seed)),
        "rouge_sample": min(sample, len(instructions)),
        "benchmark_overlap": overlap_summary([(str(r.get("id", n)), r["instruction"]) for n, r in enumerate(rows, 1)]),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


ROWS = [
    ("records", lambda s: s["records"]),
    ("dropped", lambda s: "-" if s["dropped"] is None else s["dropped"]),
    ("program", lambda s: ", ".join(s["programs"])),
    ("with metadata", lambda s: f"{s['with_metadata']} ({100 * s['with_metadata'] / s['records']:.0f}%)"),
    ("distinct use cases", lambda s: s["use_cases"]),
    ("distinct skills", lambda s: s["skills"]),
    ("iteration histogram", lambda s: "  ".join(f"{k}:{v}" for k, v in s["iterations"].items())),
    ("kept by source", lambda s: "  ".join(f"{k}:{v}" for k, v in s["kept_by_source"].items())),
    ("instruction words mean/median/p90/max", lambda s: "/".join(str(v) for v in s["instruction_words"].values())),
    ("response words mean/median/p90/max", lambda s: "/".join(str(v) for v in s["response_words"].values())),
    ("distinct-1 / distinct-2", lambda s: f"{s['distinct_1']:.3f} / {s['distinct_2']:.3f}"),
    ("mean pairwise ROUGE-L (sample)", lambda s: "-" if s["mean_pairwise_rouge_l"] is None
     else f"{s['mean_pairwise_rouge_l']:.3f} (n={s['rouge_sample']})"),
    ("overlap a benchmark item", lambda s: f"{s['benchmark_overlap']['overlapping']} "
     f"({100 * s['benchmark_overlap']['overlapping'] / s['records']:.0f}%)"),
]


def overlap_lines(stats: list[dict[str, Any]]) -> list[str]:
    """The overlap rule, then per dataset its count by benchmark split and a few examples."""
    lines = [f"Benchmark overlap: {stats[0]['benchmark_overlap']['rule']} (both splits; test items are what "
             "`codeclm eval` scores by default)"]
    for s in stats:
        overlap = s["benchmark_overlap"]
        by_split = ", ".join(f"{k} {v}" for k, v in overlap["by_split"].items()) or "none"
        lines.append(f"{s['name']}: {overlap['overlapping']} of {overlap['checked']} instructions ({by_split})")
        for e in overlap["examples"]:
            how = "shares an 8-word run" if e["shared_run"] else f"ROUGE-L {e['rouge_l']:.2f}"
            lines.append(f"  {e['id']}: {_clip(e['instruction'])!r} ~ {e['item_id']} {_clip(e['item'])!r} ({how})")
    return lines


def _clip(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def table(stats: list[dict[str, Any]]) -> Table:
    """Datasets side by side: one column each."""
    t = Table(title="codeclm report")
    t.add_column("")
    for s in stats:
        t.add_column(s["name"], justify="right")
    for label, get in ROWS:
        t.add_row(label, *(str(get(s)) for s in stats))
    return t


def plot(stats: list[dict[str, Any]], path: Path) -> Path:
    """One PNG, four panels: iterations, instruction lengths, kept by source, diversity."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ReportError("plots need matplotlib: pip install 'codeclm[report]' (or pass --no-plots)") from None
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    names = [s["name"] for s in stats]
    width = 0.8 / len(stats)
    its = sorted({int(k) for s in stats for k in s["iterations"]})
    srcs = sorted({k for s in stats for k in s["kept_by_source"]})
    for i, s in enumerate(stats):
        iters = {int(k): v for k, v in s["iterations"].items()}
        axes[0, 0].bar([x + i * width for x in range(len(its))], [iters.get(k, 0) for k in its], width, label=s["name"])
        axes[1, 0].bar([x + i * width for x in range(len(srcs))], [s["kept_by_source"].get(k, 0) for k in srcs], width, label=s["name"])
    axes[0, 0].set(title="Self-Rubrics iteration / evolution round", xlabel="iteration", ylabel="records",
                   xticks=[x + 0.4 - width / 2 for x in range(len(its))], xticklabels=its)
    axes[1, 0].set(title="kept by response source", ylabel="records",
                   xticks=[x + 0.4 - width / 2 for x in range(len(srcs))], xticklabels=srcs)
    for s in stats:
        lengths = [len(r["instruction"].split()) for r in load_records(s["path"])]
        axes[0, 1].hist(lengths, bins=20, alpha=0.5, label=s["name"])
    axes[0, 1].set(title="instruction length", xlabel="words", ylabel="records")
    metrics = ["distinct_1", "distinct_2", "mean_pairwise_rouge_l"]
    for i, s in enumerate(stats):
        axes[1, 1].bar([x + i * width for x in range(3)], [s[m] or 0 for m in metrics], width, label=s["name"])
    axes[1, 1].set(title="diversity (ROUGE-L: lower = more diverse)", ylim=(0, 1),
                   xticks=[x + 0.4 - width / 2 for x in range(3)], xticklabels=["distinct-1", "distinct-2", "ROUGE-L"])
    for ax in axes.flat:
        ax.legend(fontsize=8)
    fig.suptitle("codeclm report: " + ", ".join(names))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(paths: list[str | Path], out_dir: str | Path | None = None, *, plots: bool = True, sample: int = 100,
           seed: int = 0, console: Console | None = None) -> dict[str, Any]:
    """Stats for each dataset; writes report.txt, report.json (and report.png) into `out_dir`."""
    stats = [dataset_stats(p, sample, seed) for p in paths]
    out = Path(out_dir) if out_dir else Path(paths[0]).with_name(Path(paths[0]).stem + ".report")
    out.mkdir(parents=True, exist_ok=True)
    text_console = Console(record=True, width=140, file=io.StringIO())
    text_console.print(table(stats))
    for line in overlap_lines(stats):
        text_console.print(line, highlight=False, markup=False, soft_wrap=True)
    (out / "report.txt").write_text(text_console.export_text(), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    result: dict[str, Any] = {"datasets": stats, "text": str(out / "report.txt"), "json": str(out / "report.json"), "plot": None}
    if console is not None:
        print_table(console, table(stats))
        for line in overlap_lines(stats):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    if plots:
        result["plot"] = str(plot(stats, out / "report.png"))
    return result
