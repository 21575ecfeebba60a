"""servers.json handling, find_running, serve_forever and open_endpoint with a fake server.

Runs against: a fake server command (tests/local/fake_openai_server.py), no llama.cpp, no weights.
"""

import contextlib
import functools
import json
import threading

import pytest

import codeclm.local as local
from codeclm.local.launcher import running
from codeclm.local.launcher.catalog import CATALOG
from codeclm.local.launcher.process import LocalServer
from local_helpers import SMALL, fake_command


@pytest.fixture
def fake_servers(monkeypatch):
    factory = functools.partial(LocalServer, command=fake_command())
    monkeypatch.setattr(running, "LocalServer", factory)
    monkeypatch.setattr(local, "LocalServer", factory)


def entries(cache):
    return json.loads((cache / "servers.json").read_text())


def test_register_find_unregister(cache):
    with LocalServer(SMALL, command=fake_command()) as server:
        running.register(server)
        [entry] = entries(cache)
        assert entry == {"name": SMALL, "api_base": server.api_base, "model": SMALL,
                         "pid": server.pid, "sha256": CATALOG[SMALL].sha256, "logprobs": False}
        assert running.find_running(SMALL) == server.api_base
        assert running.find_running(SMALL, logprobs=True) is None  # a logprob judge needs a server started for it
        assert running.find_running("qwen2.5-coder-0.5b-instruct") is None
        running.unregister(server.pid)
        assert entries(cache) == [] and running.find_running(SMALL) is None


def test_stale_corrupt_and_foreign_entries_are_ignored(cache):
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "servers.json").write_text("{not json")
    assert running.find_running(SMALL) is None
    with LocalServer(SMALL, command=fake_command()) as server:
        dead = {"name": SMALL, "api_base": "http://127.0.0.1:9/v1", "model": SMALL, "pid": 2**22 + 7,
                "sha256": CATALOG[SMALL].sha256}
        other_file = {"name": SMALL, "api_base": server.api_base, "model": SMALL, "pid": server.pid, "sha256": "0" * 64}
        (cache / "servers.json").write_text(json.dumps([dead, other_file]))
        assert running.find_running(SMALL) is None
        assert [e["pid"] for e in entries(cache)] == [server.pid]  # the dead pid was pruned
    assert running.find_running(SMALL) is None  # pid gone now


def test_serve_forever_registers_until_stopped(cache, fake_servers):
    stop, seen = threading.Event(), {}

    def ready(servers):
        seen["servers"] = servers
        seen["found"] = running.find_running(SMALL)
        stop.set()

    running.serve_forever([SMALL], ready=ready, stop=stop, poll_s=0.05)
    [server] = seen["servers"]
    assert seen["found"] == server.api_base
    assert entries(cache) == [] and server.proc.poll() is not None


def test_open_endpoint_reuses_or_starts(cache, fake_servers):
    with contextlib.ExitStack() as stack:
        ep = local.open_endpoint(SMALL, stack)
        assert ep.started_here and ep.model == SMALL and ep.api_base.startswith("http://127.0.0.1:")
    with LocalServer(SMALL, command=fake_command()) as server:
        running.register(server)
        with contextlib.ExitStack() as stack:
            ep = local.open_endpoint(SMALL, stack)
        assert ep == local.LocalEndpoint(server.api_base, SMALL, SMALL, started_here=False)
        assert server.alive  # reused, not stopped by the caller's stack
