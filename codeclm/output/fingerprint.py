"""A run's fingerprint: everything that shapes its items (program settings, templates, tuned prompts,
seed texts, model identities), hashed, so a rerun into an output made otherwise can say what changed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# How and where a run goes, not what it makes: never part of the fingerprint.
# How many records and what a run may spend decide how far it goes, not what an item is: a rerun with a
# larger `records` or a higher cap resumes the same output.
RUNTIME_KEYS = {"output", "concurrency", "cache", "seeds", "optimize", "records", "per_use_case", "per_skill",
                "max_usd", "max_calls", "max_tokens", "max_seconds"}
# Per model: how its calls are sent and billed in provider batches (`--executor batch`), not what they answer.
RUNTIME_MODEL_KEYS = {"batch_api", "batch_discount", "adaptive_concurrency"}


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def model_identity(lm: Any) -> str:
    """A model as the cache knows it: model id at its endpoint (a local model by its pinned sha256)."""
    where = getattr(lm, "endpoint_id", None) or getattr(lm, "api_base", None) or ""
    return f"{getattr(lm, 'model', type(lm).__name__)}@{where}" if where else str(getattr(lm, "model", type(lm).__name__))


def fingerprint(config, program, seeds, lms: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint of one run: a hash of the whole and the parts it was made from."""
    settings = config.model_dump(mode="json", exclude=RUNTIME_KEYS)
    for spec in settings["models"].values():
        for key in RUNTIME_MODEL_KEYS & set(spec or {}):
            del spec[key]
    parts = {
        "settings": settings,
        "templates": program.templates,
        "tuned": program.tuned,
        "seeds": [s.text for s in seeds],
        "models": {role: model_identity(lm) for role, lm in sorted(lms.items())},
    }
    return {"sha256": digest(parts), **{name: parts[name] for name in ("settings", "templates", "tuned", "models")},
            "seeds": {"count": len(seeds), "sha256": digest(parts["seeds"])}}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed from `old` to `new`, as short phrases ('num_metadata 2 -> 4', 'seeds (2 -> 3)')."""
    changed = [f"{key} {_short(a)} -> {_short(b)}" for key, a, b in _flat_diff(old.get("settings", {}), new.get("settings", {}))]
    steps = sorted(k for k in set(old.get("templates", {})) | set(new.get("templates", {}))
                   if old.get("templates", {}).get(k) != new.get("templates", {}).get(k))
    if steps:
        changed.append(f"templates ({', '.join(steps)})")
    if old.get("tuned") != new.get("tuned"):
        changed.append("tuned program")
    if old.get("seeds") != new.get("seeds"):
        changed.append(f"seeds ({old.get('seeds', {}).get('count', '?')} -> {new['seeds']['count']} seed instructions)"
                       if old.get("seeds", {}).get("count") != new["seeds"]["count"] else "seed texts")
    roles = sorted(r for r in set(old.get("models", {})) | set(new.get("models", {}))
                   if old.get("models", {}).get(r) != new.get("models", {}).get(r))
    if roles:
        changed.append(f"models ({', '.join(roles)})")
    return changed


def _flat_diff(a: Any, b: Any, prefix: str = ""):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _flat_diff(a.get(key), b.get(key), f"{prefix}{key}.")
    elif a != b:
        yield prefix.rstrip("."), a, b


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
