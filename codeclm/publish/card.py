"""A dataset card (Hugging Face README.md) built from a run's manifest: what the data is and how it was made.

`codeclm push` uploads it as the dataset repo's README.md; `codeclm export` writes it beside the
exported files. Everything in it comes from the manifest `codeclm run` writes beside its output
(codeclm.output.sink.manifest_path): the program's settings, models per role, the filter and its check
figures, counts per stage and Self-Rubrics iteration, template hashes, overlap with benchmark items.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from codeclm.errors import CodecLMError
from codeclm.output.sink import manifest_path


class CardError(CodecLMError):
    """A dataset without the manifest its card is built from."""


# Licences of models codeclm knows (model id pattern -> licence). Anything else: the card says to check it.
LICENCES: list[tuple[str, str]] = [
    (r"smollm2", "Apache-2.0"),
    (r"qwen2\.5-coder-(0\.5|1\.5|7|14|32)b", "Apache-2.0"),
    (r"qwen2\.5-(72b|3b)", "Qwen licence (not Apache-2.0; read it before use)"),
    (r"llama-?3\.1", "Llama 3.1 Community License"),
    (r"llama-?3\.2", "Llama 3.2 Community License"),
    (r"llama-?3\.3", "Llama 3.3 Community License"),
    (r"llama-?3", "Meta Llama 3 Community License"),
    (r"mistral-7b|mixtral", "Apache-2.0"),
    (r"(^|/)(gpt-|o1|o3|o4)", "OpenAI Terms of Use (outputs: OpenAI's usage policies)"),
    (r"(^|/)claude", "Anthropic's terms of service"),
    (r"(^|/)gemini", "Google's Gemini API terms"),
]
UNKNOWN_LICENCE = "not known to codeclm: check the model's licence and its terms on generated data"


def licence(model: str) -> str:
    name = model.lower()
    return next((text for pattern, text in LICENCES if re.search(pattern, name)), UNKNOWN_LICENCE)


def read_manifest(data: str | Path) -> dict[str, Any]:
    """The manifest beside `data`; CardError (one line, with the fix) when it is missing or unreadable."""
    path = manifest_path(Path(data))
    if not path.is_file():
        raise CardError(f"{path}: not found; the dataset card is built from the manifest `codeclm run` writes "
                        f"beside its output: push or export data written by codeclm run, with its manifest beside it")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise CardError(f"{path}: not a JSON manifest; rerun the program (codeclm run) to write it again") from None
    if not isinstance(manifest, dict) or "config" not in manifest:
        raise CardError(f"{path}: has no program settings (config); rerun the program (codeclm run) to write it again")
    return manifest


def program_yaml(manifest: dict[str, Any]) -> str:
    """The program's settings as a program file (what `codeclm run` validated, defaults filled in)."""
    config = json.loads(json.dumps(manifest["config"], default=str))
    config["output"] = f"data/{Path(str(config.get('output', 'data.jsonl'))).name}"  # no local paths in a card
    (config.get("cache") or {}).pop("path", None)  # this machine's call cache: the default one elsewhere
    config["prompts"] = "prompts"  # the layout `codeclm init` writes: the templates beside the program file
    return yaml.safe_dump(_without_nulls(config), sort_keys=False, allow_unicode=True, width=100)


def _without_nulls(value: Any) -> Any:
    """Settings left unset (null) are the defaults a run fills in again: leave them out of the program file."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return [_without_nulls(v) for v in value] if isinstance(value, list) else value


def public_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without this machine's paths (output files, a cache file): what travels with the data."""
    shared = json.loads(json.dumps(manifest, default=str))
    for key in ("output", "dropped_output"):
        if key in shared:
            shared[key] = Path(str(shared[key])).name
    config = shared.get("config", {})
    config["output"] = Path(str(config.get("output", ""))).name
    if (config.get("cache") or {}).get("path"):
        config["cache"]["path"] = Path(str(config["cache"]["path"])).name
    return shared


def _check_lines(judge: dict[str, Any]) -> list[str]:
    check = judge.get("check")
    if not check:
        return ["- Filter check: **not run** for this data (`judging.check.enabled: false`): the filter's decisions "
                "are unchecked."]
    by_decision = ", ".join(f"{k.replace('_', ' ')} {v} right" for k, v in (check.get("by_decision") or {}).items())
    return [
        f"- Filter check (before the run, on items whose right decision is known): {check['correct']}/{check['items']} "
        f"right at theta {check['theta']:g} ({check['accuracy']:.0%}, 95% Wilson interval "
        f"{check['ci_low']:.0%}-{check['ci_high']:.0%}, n = {check['items']}); {by_decision}; "
        f"gap > 0 {check['sign_accuracy']:.0%}: **{check['verdict']}** (needs accuracy >= {check['min_accuracy']:g} "
        f"and a 95% lower bound above 0.5).",
        f"- Check models: judge `{check.get('judge_model')}`, target `{check.get('target_model')}`.",
    ]


def dataset_card(manifest: dict[str, Any], *, title: str, files: dict[str, str] | None = None) -> str:
    """A Hugging Face dataset card (README.md with YAML metadata) for the data described by `manifest`.

    `files`: Hub config name -> data file path in the repo (default: the kept records as `data/train.jsonl`)."""
    files = files or {"default": "data/train.jsonl"}
    config = manifest["config"]
    versions = manifest.get("versions", {})
    version = versions.get("codeclm", "?")
    models = manifest.get("models") or {}
    judge = manifest.get("judge") or {}
    usage_roles = (manifest.get("usage") or {}).get("roles", {})
    fingerprint = (manifest.get("fingerprint") or {})
    seeds = manifest.get("seeds") or {}
    overlap = manifest.get("benchmark_overlap") or {}
    local = [spec["local"] for spec in (config.get("models") or {}).values() if isinstance(spec, dict) and spec.get("local")]

    meta = {
        "pretty_name": title,
        "tags": ["synthetic", "instruction-tuning", "codeclm"],
        "configs": [{"config_name": name, "data_files": [{"split": "train", "path": path}]} for name, path in files.items()],
    }
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "", f"# {title}", ""]
    lines += [
        f"Synthetic instruction-response pairs made with [codeclm](https://pypi.org/project/codeclm/) {version}, "
        f"program `{config.get('name')}` (`program: {config.get('program')}`): an implementation of CodecLM "
        "(Wang et al., *CodecLM: Aligning Language Models with Tailored Synthetic Data*, Findings of NAACL 2024).",
        "",
        f"- Kept pairs: **{manifest.get('kept', 0)}** (config `default`, split `train`)"
        + (f"; dropped items with their stage and reason: {manifest.get('dropped', 0)} (config `dropped`)"
           if "dropped" in files else f"; dropped items: {manifest.get('dropped', 0)} (not uploaded)") + ".",
        "- Each row is a codeclm record: `id` (a content id, stable across reruns), `instruction`, `response`, and "
        "its provenance (`models`, `templates`, `history`, `answers`, `judge`, `gap`, `theta`).",
        f"- Run status: {manifest.get('status', '?')}; fingerprint sha256 `{fingerprint.get('sha256', '?')}`.",
        "",
        "## Models",
        "",
        "| role | model | licence | calls | tokens in / out |",
        "|---|---|---|---|---|",
    ]
    for role, model in models.items():
        if model in (None, "-"):
            continue
        used = usage_roles.get(role, {})
        calls = used.get("calls", "-")
        tokens = f"{used.get('prompt_tokens', '-')} / {used.get('completion_tokens', '-')}" if used else "-"
        lines.append(f"| {role} | `{model}` | {licence(model)} | {calls} | {tokens} |")
    lines += ["", "Licences of the models bind the generated data in their own terms: read them before you train on "
              "or share it.", ""]

    lines += ["## Filter", ""]
    if config.get("program") == "codeclm" and (config.get("ablation") or {}).get("contrastive_filtering", True):
        lines += [f"- Contrastive Filtering: scheme `{judge.get('scheme')}`, theta {judge.get('theta')}: a pair is kept "
                  "when the filter's gap between the strong answer and the target is above theta; below, the "
                  "instruction is improved by Self-Rubrics, up to `max_iterations` "
                  f"({config.get('max_iterations')})."]
        lines += _check_lines(judge)
    else:
        lines += [f"- No Contrastive Filtering (`program: {config.get('program')}`)."]
    lines.append("")

    fp_seeds = fingerprint.get("seeds") or {}
    lines += ["## Counts", "", "| stage | count |", "|---|---|"]
    lines.append(f"| seed instructions | {fp_seeds.get('count', '?')} (`{seeds.get('path', config.get('seeds', {}).get('path'))}`"
                 + (f", {seeds['split']} split" if seeds.get("split") else "") + ") |")
    if config.get("program") == "codeclm":
        lines.append(f"| metadata (after Enlarge) | {config.get('num_metadata')} |")
        lines.append(f"| instructions (metadata x {config.get('instructions_per_metadata')}) | "
                     f"{config.get('num_metadata', 0) * config.get('instructions_per_metadata', 0)} |")
    for reason, count in (manifest.get("dropped_by_reason") or {}).items():
        lines.append(f"| dropped: {reason} | {count} |")
    lines.append(f"| kept | {manifest.get('kept', 0)} |")
    for iteration, count in (manifest.get("iterations") or {}).items():
        lines.append(f"| kept at Self-Rubrics iteration {iteration} | {count} |")
    for role, counts in (manifest.get("answer_guards") or {}).items():
        lines.append(f"| answer guards ({role}) | {', '.join(f'{k} {v}' for k, v in counts.items())} |")
    lines.append("")

    lines += ["## Overlap with benchmark items", ""]
    if overlap:
        found = ", ".join(f"{k} {v}" for k, v in (overlap.get("by_split") or {}).items())
        lines.append(f"{overlap.get('overlapping', 0)} of {overlap.get('checked', 0)} kept instructions overlap an item of a "
                     f"bundled benchmark ({overlap.get('rule', '')})" + (f": {found}" if found else "") + ".")
    else:
        lines.append("Not measured for this data.")
    lines.append("")

    lines += ["## Templates", "", "sha256 of each step's template (with its variables) the data was made with; "
              "`codeclm show PROGRAM.yaml` prints what they say.", "", "| step | sha256 |", "|---|---|"]
    lines += [f"| {step} | `{sha}` |" for step, sha in (manifest.get("templates") or {}).items()]
    if manifest.get("tuned"):
        lines.append(f"\nTuned program (codeclm optimize) sha256: `{manifest['tuned']}`.")
    lines.append("")

    extra = "[local]" if local else ""
    lines += [
        "## How to reproduce",
        "",
        "```bash",
        f"pip install 'codeclm{extra}=={version}'" + (f"  # Python {versions['python']} made it" if versions.get("python") else ""),
        "codeclm init my-program      # this version's templates: the sha256 table above says whether they were edited",
        "# save the program file below as my-program/codeclm.yaml (it reads prompts/ beside it), then:",
        "codeclm run my-program/codeclm.yaml",
        "```",
        "",
        "With a fresh call cache and temperature > 0 the items differ from run to run unless `concurrency: 1` and the "
        "same model builds; rerunning on the same cache replays them exactly. Versions that made this data: "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        "### Program file",
        "",
        "```yaml",
        program_yaml(manifest).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def card_path(data: str | Path) -> Path:
    """Where `codeclm export` writes the card: `<data>.card.md` beside the data."""
    return Path(data).with_name(Path(data).stem + ".card.md")
