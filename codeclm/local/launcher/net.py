"""Loopback helpers: free ports and the ``/v1/models`` health check (only 127.0.0.1 is ever contacted)."""

from __future__ import annotations

import json
import socket
import urllib.request

from codeclm.errors import LocalModelError

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port that was free a moment ago (the OS picks it: bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            raise LocalModelError(f"port {port} on {HOST} is in use; pick another port or leave it unset") from None


def healthy(api_base: str, model: str | None = None, timeout: float = 1.0) -> bool:
    """True when ``GET {api_base}/models`` answers 200 (and lists ``model``, if given)."""
    try:
        with urllib.request.urlopen(f"{api_base}/models", timeout=timeout) as r:
            ids = {m.get("id") for m in json.load(r).get("data", [])}
    except (OSError, ValueError, AttributeError):
        return False
    return model is None or model in ids
