"""codeclm's version (one source: `codeclm.__version__`, which pyproject.toml reads too) and the versions of
what it runs on, for `codeclm --version` and every run's manifest."""

from __future__ import annotations

import platform
from importlib import metadata

DEPENDENCIES = ("dspy", "litellm", "jinja2", "llama_cpp_python")


def installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str]:
    """python, codeclm and each installed dependency of note (one that is not installed is left out)."""
    from codeclm import __version__

    found = {"python": platform.python_version(), "codeclm": __version__}
    found.update({dist: v for dist in DEPENDENCIES if (v := installed(dist))})
    return found


def version_line() -> str:
    """'codeclm 0.2.0 (dspy 3.4.1, llama-cpp-python 0.3.36, Python 3.11.7)'."""
    from codeclm import __version__

    dspy, llama = installed("dspy") or "not installed", installed("llama_cpp_python") or "not installed"
    return f"codeclm {__version__} (dspy {dspy}, llama-cpp-python {llama}, Python {platform.python_version()})"
