"""An eval's per-item file read back, and which earlier judgments a rerun reuses.

A stored judgment is reused only when everything that shaped its verdict is the same (`settings`:
scheme, respond and judge templates, answering settings, judge sampling, the three models) and its
instruction is unchanged; failed items are asked again. The verdict does not depend on the rule, so
a rerun with another `--rule` re-applies it without new calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeclm.errors import CodecLMError
from codeclm.evaluation.benchmarks import BenchmarkItem
from codeclm.evaluation.results import ItemJudgment
from codeclm.output.fingerprint import model_identity
from codeclm.output.jsonl import JsonlError, validated_rows

FIX = "fix or delete that line, or move the file away (or pass another --out); the file was left as it is"
ROLES = ("candidate", "reference", "judge")


class EvalFileError(CodecLMError):
    """An earlier per-item eval file that cannot be read back."""


def read_judgments(path: Path) -> list[ItemJudgment]:
    """The judgments stored in `path` (none if it does not exist); EvalFileError names file:line and the fix."""
    if not path.exists():
        return []
    try:  # written whole: a bad last line is reported, not cut
        return validated_rows(path, ItemJudgment, what="an eval judgment", fix=FIX, repair=False)
    except JsonlError as exc:
        raise EvalFileError(str(exc)) from None


def lm_identity(lm: Any) -> str:
    """A model as the cache knows it, plus what its spec forces on every call (temperature, max_tokens)."""
    overrides = getattr(lm, "overrides", None) or {}
    return model_identity(lm) + "".join(f" {key}={value}" for key, value in sorted(overrides.items()))


def verdict_settings(scheme: str, templates: dict[str, str], answering: dict[str, Any], judging: dict[str, Any],
                     lms: dict[str, Any]) -> dict[str, Any]:
    """Everything that shapes an item's verdict: the resume key stored with each judgment."""
    return {"scheme": scheme, "templates": templates, "answering": answering, "judging": judging,
            "models": {role: lm_identity(lms[role]) for role in ROLES}}


def reusable(stored: list[ItemJudgment], items: list[BenchmarkItem], settings: dict[str, Any]) -> tuple[dict[str, ItemJudgment], int]:
    """The stored judgments of `items` a rerun reuses, and how many others were judged with other settings
    (or on another instruction text) and must be judged again."""
    by_id = {j.id: j for j in stored if j.failed is None and j.error is None and j.verdict is not None}
    reuse, other = {}, 0
    for item in items:
        old = by_id.get(item.id)
        if old is None:
            continue
        if old.settings == settings and old.instruction == item.instruction:
            reuse[item.id] = old.model_copy(update={"category": item.category})
        else:
            other += 1
    return reuse, other
