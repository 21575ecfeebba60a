"""``servers.json`` in the cache dir: servers that ``codeclm serve`` keeps up, for ``codeclm run`` to reuse."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from codeclm.errors import LocalModelError
from codeclm.output.jsonl import write_atomic
from codeclm.local.launcher import catalog
from codeclm.local.launcher.net import healthy
from codeclm.local.launcher.process import LocalServer
from codeclm.local.launcher.weights import cache_dir

log = logging.getLogger(__name__)


def servers_file() -> Path:
    return cache_dir() / "servers.json"


@contextlib.contextmanager
def _locked() -> Iterator[list[dict]]:
    """Yield the entries under an exclusive lock; what the caller leaves in the list is written back atomically."""
    path = servers_file()
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            entries = json.loads(path.read_text())
            if not isinstance(entries, list):
                entries = []
        except (OSError, ValueError):
            entries = []
        before = list(entries)
        yield entries
        if entries != before:
            write_atomic(path, json.dumps(entries, indent=2))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def register(server: LocalServer) -> None:
    entry = {"name": server.name, "api_base": server.api_base, "model": server.model,
             "pid": server.pid, "sha256": server.sha256, "logprobs": server.logprobs}
    with _locked() as entries:
        entries[:] = [e for e in entries if e.get("pid") != server.pid] + [entry]


def unregister(pid: int | None) -> None:
    with _locked() as entries:
        entries[:] = [e for e in entries if e.get("pid") != pid]


def find_running(name: str, logprobs: bool = False) -> str | None:
    """The api_base of a registered, healthy server for ``name`` (pid alive and ``/v1/models`` lists it);
    with ``logprobs``, only one started to return generation log-probabilities."""
    sha = catalog.get_spec(name).sha256
    with _locked() as entries:
        entries[:] = [e for e in entries if isinstance(e.get("pid"), int) and pid_alive(e["pid"])]
        candidates = [e for e in entries if e.get("name") == name and e.get("sha256") == sha
                      and (e.get("logprobs") or not logprobs)]
    for e in candidates:
        if healthy(e["api_base"], e.get("model", name)):
            return e["api_base"]
    return None


def serve_forever(names: list[str], *, ready: Callable[[list[LocalServer]], None] | None = None,
                  stop: threading.Event | None = None, poll_s: float = 2.0, logprobs: bool = False) -> None:
    """Start one server per name, register them, and block until Ctrl-C/SIGTERM/``stop``; then stop and unregister.

    ``ready`` is called once with the started servers (e.g. to print their api_base).
    Raises LocalModelError if a server dies while serving.
    """
    stop = stop or threading.Event()
    on_main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if on_main else None
    with contextlib.ExitStack() as stack:
        if on_main:
            stack.callback(signal.signal, signal.SIGTERM, old)
        servers = []
        for name in names:
            running = find_running(name)
            if running:
                raise LocalModelError(f"a server for {name} is already running at {running}; stop it first")
            server = stack.enter_context(LocalServer(name, logprobs=logprobs))
            register(server)
            stack.callback(unregister, server.pid)
            servers.append(server)
        if ready:
            ready(servers)
        try:
            while not stop.wait(poll_s):
                for server in servers:
                    server.check()
        except KeyboardInterrupt:
            log.info("stopping local servers")
