"""The llama-cpp-python version codeclm's server patches are written for, checked when the server starts.

The patches in this package replace internals of ``llama_cpp.server`` and ``llama_cpp.Llama``
(private attributes, the server's locks, the sampler and context parameters); another version
can fail in ways that look like a model or network fault, so the server refuses it in one line.
"""

from __future__ import annotations

PATCHED_FOR = "0.3.36"


def mismatch(found: str) -> str | None:
    """The one line to print when ``found`` is not the version the patches are written for; None when it is."""
    if found == PATCHED_FOR:
        return None
    return (f"codeclm: the embedded server's patches are written for llama-cpp-python {PATCHED_FOR}, "
            f"but {found} is installed: pip install 'llama-cpp-python[server]=={PATCHED_FOR}'")
