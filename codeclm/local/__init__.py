"""Zero-configuration embedded local LLM: pinned GGUF weights served by ``llama_cpp.server`` on 127.0.0.1.

Two processes, two folders: :mod:`codeclm.local.launcher` is the user's side (weights, starting,
finding and stopping servers); :mod:`codeclm.local.server` runs inside the server process
(``python -m codeclm.local.server``: llama-cpp-python with codeclm's patches). This module is
the public API of the user's side.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from codeclm.local.launcher import process
from codeclm.local.launcher.catalog import CATALOG, PinnedModel, get_spec
from codeclm.local.launcher.process import LocalServer, batch_slots_default
from codeclm.local.launcher.running import find_running, serve_forever
from codeclm.local.launcher.weights import cache_dir, ensure_weights

DEFAULT_STRONG = "qwen2.5-coder-1.5b-instruct"
DEFAULT_TARGET = "qwen2.5-coder-0.5b-instruct"


@dataclass(frozen=True)
class LocalEndpoint:
    """Where to send OpenAI-compatible requests for one local model (``model`` is the server's alias)."""

    api_base: str
    model: str
    name: str
    started_here: bool


def open_endpoint(name: str, stack: contextlib.ExitStack, logprobs: bool = False) -> LocalEndpoint:
    """Reuse a healthy server from ``codeclm serve`` or start one whose stop is registered on ``stack``.

    ``logprobs``: the server must return log-probabilities of generated tokens (a logprob judge).
    """
    get_spec(name)
    api_base = find_running(name, logprobs=logprobs)
    if api_base:
        return LocalEndpoint(api_base=api_base, model=name, name=name, started_here=False)
    server = stack.enter_context(LocalServer(name, logprobs=logprobs))
    return LocalEndpoint(api_base=server.api_base, model=server.model, name=name, started_here=True)


def check_started() -> None:
    """Raise LocalModelError (with the log's last lines) if a server started by this process died."""
    for started in list(process._LIVE):
        started.check()


__all__ = [
    "CATALOG", "DEFAULT_STRONG", "check_started", "DEFAULT_TARGET", "LocalEndpoint", "LocalServer", "PinnedModel",
    "batch_slots_default", "cache_dir", "ensure_weights", "find_running", "get_spec", "open_endpoint", "serve_forever",
]
