"""Reaching Ray: the optional `ray` extra, imported only when asked for, and joining (or starting) a cluster."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from codeclm.errors import ConfigError

log = logging.getLogger(__name__)

RAY_MISSING = "--executor ray needs Ray, which is not installed: pip install 'codeclm[ray]'"


def require_ray() -> Any:
    """The `ray` module, or ConfigError naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def connect(address: str | None) -> bool:
    """Join the Ray cluster at `address` ('auto', 'ray://HOST:10001', 'HOST:6379'), or $RAY_ADDRESS; without
    either, start Ray on this machine (no dashboard). True when this call did it (so its caller shuts Ray down);
    False when Ray was already initialized in this process (a test's, or a user's own `ray.init`)."""
    ray = require_ray()
    if ray.is_initialized():
        if address:
            log.warning("Ray is already initialized in this process; --address %s is not used", address)
        return False
    joining = bool(address or os.environ.get("RAY_ADDRESS"))
    check_reachable(address or os.environ.get("RAY_ADDRESS"))
    try:
        ray.init(address=address, **({} if joining else {"include_dashboard": False}))
    except (ConnectionError, TimeoutError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS")
        raise ConfigError(f"--address {where}: no Ray cluster reachable there ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                          "start one (`ray start --head`) or drop --address to run Ray on this machine") from None
    return True


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """A HOST:PORT address must accept a connection, or ConfigError now (Ray itself retries for minutes)."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({getattr(exc, 'strerror', None) or exc}); "
                          "give the head node's HOST:6379 (`ray status` on it prints it), auto, or ray://HOST:10001") from None


def driver_node() -> str:
    """The Ray node this process runs on (its files, such as the call cache, live there)."""
    return require_ray().get_runtime_context().get_node_id()
