"""Tuned programs on disk: save a program's prompts (instructions + demos), load them back only where they fit.

DSPy restores a saved signature's fields by position, so a file tuned for one judging scheme
would load silently wrong into another. `load_tuned` refuses, in one line naming the step,
a file whose steps or fields differ from the program's; `save_tuned` writes a codeclm header
(program, scheme, field names) beside DSPy's own state.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import dspy

from codeclm.errors import CodecLMError
from codeclm.output.jsonl import write_atomic

FORMAT = 1


class TunedProgramError(CodecLMError):
    """A tuned program file that is missing, unreadable, or does not fit the program it is loaded into."""


def step_fields(program: dspy.Module) -> dict[str, list[str]]:
    """Predictor name -> its signature's field names, in order (what a saved state must match)."""
    return {name: list(p.signature.fields) for name, p in program.named_predictors()}


def _prefixes(predictor) -> list[str]:
    return [field.json_schema_extra["prefix"] for field in predictor.signature.fields.values()]


def save_tuned(program: dspy.Module, path: str | Path, provenance: dict[str, Any] | None = None) -> Path:
    """Write the program's state (instructions and demos per step, no models) with a codeclm header.

    `provenance` (e.g. how `codeclm optimize` made the file, with its figures) goes into the header.
    """
    path = Path(path)
    from dspy.utils.saving import get_dependency_versions

    state = program.dump_state()
    state["metadata"] = {"dependency_versions": get_dependency_versions()}  # so dspy's own Module.load() reads it too
    config = getattr(program, "config", None)
    state["codeclm"] = {
        "format": FORMAT,
        "program": getattr(config, "program", None),
        "judging_scheme": getattr(getattr(config, "judging", None), "scheme", None),
        "steps": step_fields(program),
        **({"optimize": provenance} if provenance else {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(state, indent=1, ensure_ascii=False, default=str) + "\n")
    return path


def read_tuned(path: str | Path) -> tuple[dict[str, Any], str]:
    """The saved state and the sha256 of the file's bytes; TunedProgramError (one line) otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TunedProgramError(f"{path}: tuned program not readable ({exc.strerror or exc}); check --tuned") from None
    try:
        state = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TunedProgramError(f"{path}: not a tuned program (invalid JSON: {exc}); pass a file saved by `codeclm optimize`") from None
    if not isinstance(state, dict):
        raise TunedProgramError(f"{path}: not a tuned program (expected a JSON object); pass a file saved by `codeclm optimize`")
    return state, hashlib.sha256(data).hexdigest()


def check_fits(program: dspy.Module, state: dict[str, Any], path: Path) -> None:
    """Refuse a state whose steps or fields differ from the program's, naming the first step that differs."""
    predictors = dict(program.named_predictors())
    for name in state.get("codeclm", {}).get("steps", {}):
        if name not in predictors:
            raise TunedProgramError(f"{path}: step '{name}' is not in this program (steps: {', '.join(predictors)}); "
                                    "it was tuned for another program or judging scheme")
    for name, predictor in predictors.items():
        saved = state.get(name)
        if not isinstance(saved, dict) or "signature" not in saved:
            raise TunedProgramError(f"{path}: step '{name}' is missing; the file was tuned for another program "
                                    "or judging scheme (run codeclm optimize for this one)")
        header = state.get("codeclm", {}).get("steps", {}).get(name)
        fields = [f.get("prefix") for f in saved["signature"].get("fields", [])]
        if (header is not None and header != list(predictor.signature.fields)) or fields != _prefixes(predictor):
            raise TunedProgramError(f"{path}: step '{name}' has other fields ({', '.join(map(str, header or fields))}) "
                                    f"than this program's ({', '.join(predictor.signature.fields)}); "
                                    "it was tuned for another judging scheme or signature")


def load_tuned(program: dspy.Module, path: str | Path) -> str:
    """Load a tuned program's instructions and demos into `program`; returns (and records) the file's sha256."""
    path = Path(path)
    state, digest = read_tuned(path)
    check_fits(program, state, path)
    program.load_state({k: v for k, v in state.items() if k not in ("codeclm", "metadata")})
    program.tuned = digest
    return digest
