"""LocalServer life cycle (codeclm.local.launcher.process) against fake server commands (no llama.cpp, no weights).

Runs against: fake server commands, no llama.cpp, no weights.
"""

import os
import socket
import sys
import time
import urllib.request

import pytest

from codeclm.errors import LocalModelError
from codeclm.local.launcher.net import check_port_free, free_port
from codeclm.local.launcher.process import LocalServer
from local_helpers import SMALL, fake_command


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_free_port_is_bindable_and_busy_port_is_refused():
    port = free_port()
    check_port_free(port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        with pytest.raises(LocalModelError, match=f"port {port} .* in use"):
            check_port_free(port)
        with pytest.raises(LocalModelError, match="in use"):
            LocalServer(SMALL, port=port, command=fake_command()).start()


def test_starts_answers_and_stops(cache):
    with LocalServer(SMALL, command=fake_command()) as server:
        assert server.api_base == f"http://127.0.0.1:{server.port}/v1"
        assert server.model == SMALL and server.alive
        with urllib.request.urlopen(server.api_base + "/models", timeout=5) as r:
            assert r.status == 200
        pid = server.pid
    assert gone(pid)
    assert (cache / "logs" / f"{SMALL}.log").read_text().count("=== codeclm: starting") == 1


def test_process_that_exits_at_once_is_a_one_line_error(cache):
    cmd = [sys.executable, "-c", "print('error loading model: bad magic'); raise SystemExit(3)"]
    with pytest.raises(LocalModelError) as info:
        LocalServer(SMALL, command=cmd).start()
    msg = str(info.value)
    assert "exited with code 3" in msg and "bad magic" in msg and "full log" in msg and "\n" not in msg


def test_never_healthy_times_out_and_is_stopped(cache):
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    server = LocalServer(SMALL, command=cmd, startup_timeout=1.0)
    with pytest.raises(LocalModelError, match="not healthy after 1 s"):
        server.start()
    assert server.proc.poll() is not None


def test_death_mid_run_is_reported(cache):
    with LocalServer(SMALL, command=fake_command()) as server:
        server.check()
        server.proc.kill()
        server.proc.wait()
        with pytest.raises(LocalModelError, match="died with code"):
            server.check()


def test_stop_kills_a_server_that_ignores_sigterm(cache):
    cmd = [sys.executable, "-c", "import signal, runpy, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
           f"sys.argv = ['s', '{{port}}', '{SMALL}']; runpy.run_path({fake_command()[1]!r}, run_name='__main__')"]
    server = LocalServer(SMALL, command=cmd).start()
    t0 = time.monotonic()
    server.stop(timeout=0.5)
    assert server.proc.poll() is not None and time.monotonic() - t0 < 5


def test_guard_exits_when_its_parent_is_not_the_caller():
    import subprocess

    done = subprocess.run([sys.executable, "-m", "codeclm.local.server", "1", "--help"], timeout=60)
    assert done.returncode == 0


def test_a_server_that_died_mid_run_explains_the_failing_run(tmp_path, monkeypatch):
    """`run` turns endpoint failures into 'local server ... died' when an embedded server is gone."""
    import subprocess
    import sys

    from codeclm.errors import LocalModelError
    from codeclm.local import check_started
    from codeclm.local.launcher import process

    dead = process.LocalServer.__new__(process.LocalServer)
    dead.name, dead.log_path = "smollm2-135m-instruct", tmp_path / "server.log"
    dead.log_path.write_text("llama: loaded\nSegmentation fault\n")
    dead.proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(139)"])
    dead.proc.wait()
    monkeypatch.setattr(process, "_LIVE", {dead})
    with pytest.raises(LocalModelError, match=r"local server for smollm2-135m-instruct .* died with code 139: .*Segmentation fault"):
        check_started()


@pytest.mark.parametrize("name, value", [("CODECLM_LOCAL_SLOTS", "eight"), ("CODECLM_LOCAL_SLOTS", "0"),
                                         ("CODECLM_PROMPT_CACHE_MB", "-1")])
def test_a_bad_environment_number_is_one_line_naming_the_variable(monkeypatch, name, value):
    from codeclm.errors import LocalModelError
    from codeclm.local.launcher.process import batch_slots_default, prompt_cache_default

    monkeypatch.setenv(name, value)
    with pytest.raises(LocalModelError, match=rf"environment variable {name}='{value}': not a whole number"):
        batch_slots_default() if name == "CODECLM_LOCAL_SLOTS" else prompt_cache_default()


def test_the_prompt_cache_counts_the_score_rows_a_saved_state_carries():
    """With logits_all (logprob judges), llama-cpp-python copies up to n_tokens x vocabulary scores into every saved
    state but counts only the KV bytes against the cache's capacity: the server grew ~0.4 GB per request. Installed,
    the cache evicts by what it really holds."""
    import numpy as np

    pytest.importorskip("llama_cpp")
    from llama_cpp.llama import Llama, LlamaState
    from llama_cpp.llama_cache import LlamaRAMCache

    from codeclm.local.server import prompt_cache

    def state(n: int) -> LlamaState:
        return LlamaState(input_ids=np.arange(n, dtype=np.intc), scores=np.zeros((n, 1000), dtype=np.single), n_tokens=n,
                          llama_state=b"kv", llama_state_size=2, seed=0)

    original = LlamaRAMCache.cache_size, Llama.save_state, Llama.load_state
    try:
        prompt_cache.install()
        cache = LlamaRAMCache(capacity_bytes=10 * 1000 * 4 + 100)  # room for the rows of 10 tokens
        cache[(1, 2, 3, 4, 5, 6)] = state(6)
        cache[(7, 8, 9, 10, 11, 12)] = state(6)  # 12 tokens of rows: over capacity, the older state goes
        assert list(cache.cache_state) == [(7, 8, 9, 10, 11, 12)] and cache.cache_size == 6 * 1000 * 4 + 2
    finally:
        LlamaRAMCache.cache_size, Llama.save_state, Llama.load_state = original
