"""Export a dataset for fine-tuning tools: Alpaca, ShareGPT, OpenAI chat JSONL, or a Hugging Face Dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from codeclm.publish.report import load_records

FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    # Alpaca (tatsu-lab/stanford_alpaca): instruction / input / output; the instruction already holds any input.
    # `id` (the record's) is an extra key Alpaca readers (LLaMA-Factory, axolotl) leave alone.
    "alpaca": lambda r: {"id": r.get("id"), "instruction": r["instruction"], "input": "", "output": r["response"]},
    # ShareGPT (FastChat, axolotl, LLaMA-Factory): conversations of {from: human|gpt, value}.
    "sharegpt": lambda r: {"id": r.get("id"), "conversations": [
        {"from": "human", "value": r["instruction"]}, {"from": "gpt", "value": r["response"]}]},
    # OpenAI chat fine-tuning JSONL: one {"messages": [...]} per line; the fine-tuning API checks each line's keys,
    # so the record ids go to a file beside it (IDS_SUFFIX), line for line.
    "openai-chat": lambda r: {"messages": [
        {"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["response"]}]},
}
SUFFIX = {"alpaca": ".alpaca.json", "sharegpt": ".sharegpt.json", "openai-chat": ".openai.jsonl"}
IDS_SUFFIX = ".ids.txt"  # openai-chat: line n holds the record id of line n


def convert(records: list[dict[str, Any]], fmt: str) -> list[dict[str, Any]]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return [FORMATS[fmt](r) for r in records]


def export(path: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Write `path`'s records in `fmt` (alpaca / sharegpt: a JSON list; openai-chat: JSONL, its ids beside it);
    return the file. Every row names its record id (alpaca, sharegpt: `id`; openai-chat: `<file>.ids.txt`)."""
    records = load_records(path)
    rows = convert(records, fmt)
    target = Path(out) if out else Path(path).with_name(Path(path).stem + SUFFIX[fmt])
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "openai-chat":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        ids_path(target).write_text("".join(f"{r.get('id')}\n" for r in records), encoding="utf-8")
    else:
        text = json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    target.write_text(text, encoding="utf-8")
    return target


def ids_path(exported: Path) -> Path:
    return exported.with_name(exported.name + IDS_SUFFIX)


def write_card(path: str | Path, beside: str | Path) -> Path:
    """The dataset card (codeclm.publish.card) of `path`'s run, written as `<data>.card.md` beside `beside`; CardError
    when `path` has no manifest (data not written by `codeclm run`)."""
    from codeclm.publish.card import card_path, dataset_card, read_manifest

    manifest = read_manifest(path)
    card = Path(beside).parent / card_path(path).name
    name = Path(path).name
    card.write_text(dataset_card(manifest, title=Path(path).stem, files={"default": name}), encoding="utf-8")
    return card


def to_hf_dataset(path: str | Path, columns: tuple[str, ...] = ("id", "instruction", "response", "response_source",
                                                                 "iteration", "program")):
    """A `datasets.Dataset` of the records' main columns, plus `use_case` and `skills` (None / [] without metadata)."""
    try:
        import datasets
    except ImportError:
        raise ImportError("to_hf_dataset needs Hugging Face datasets: pip install 'codeclm[hf]'") from None
    records = load_records(path)
    data: dict[str, list[Any]] = {c: [r.get(c) for r in records] for c in columns}
    data["use_case"] = [(r.get("metadata") or {}).get("use_case") for r in records]
    data["skills"] = [(r.get("metadata") or {}).get("skills", []) for r in records]
    return datasets.Dataset.from_dict(data)
