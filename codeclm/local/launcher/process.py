"""Start, health-check and stop one local ``llama_cpp.server`` process on 127.0.0.1 (the user's side; the
process runs :mod:`codeclm.local.server`)."""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
import weakref

from codeclm.errors import LocalModelError
from codeclm.local.launcher import catalog
from codeclm.local.launcher.net import HOST, check_port_free, free_port, healthy
from codeclm.local.launcher.weights import cache_dir, ensure_weights

log = logging.getLogger(__name__)
_LIVE: weakref.WeakSet[LocalServer] = weakref.WeakSet()
_SCRUB_ENV = ("HOST", "PORT", "CONFIG_FILE")  # llama_cpp.server lets these override its flags


def prompt_cache_default() -> int:
    """MB of RAM for saved prompt states per server (CODECLM_PROMPT_CACHE_MB; 0 turns the cache off).

    llama-cpp-python's server keeps one KV cache; its RAM cache saves the state after each request
    and restores the longest matching prefix, so each step's long instructions stay warm while the
    steps alternate (docs/speed.md, "each step's prefix stays warm").
    """
    return _env_int("CODECLM_PROMPT_CACHE_MB", 1024, 0, "0 turns the cache off")


def batch_slots_default() -> int:
    """Sequences a server generates side by side (CODECLM_LOCAL_SLOTS; 1 turns side-by-side generation off).

    On a CPU one decoding step over 8 sequences costs far less than 8 steps over one, so a stage's
    answers come out faster together (codeclm.local.server.batching; docs/speed.md, "answers side by side").
    """
    return _env_int("CODECLM_LOCAL_SLOTS", 8, 1, "1 sends one request at a time")


def _env_int(name: str, default: int, least: int, meaning: str) -> int:
    """A whole number from the environment; one LocalModelError line naming the variable otherwise."""
    raw = os.environ.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = least - 1
    if value < least:
        raise LocalModelError(f"environment variable {name}={raw!r}: not a whole number >= {least}; "
                              f"unset it for the default {default} ({meaning})")
    return value


def cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class LocalServer:
    """Context manager owning one server process; ``.api_base`` and ``.model`` are valid inside it.

    ``command`` replaces the real server command (tests); ``{port}`` in it is filled in.
    """

    def __init__(self, name: str, *, path: str | os.PathLike | None = None, port: int | None = None,
                 n_ctx: int | None = None, n_threads: int | None = None, startup_timeout: float = 120.0,
                 command: list[str] | None = None, logprobs: bool = False, prompt_cache_mb: int | None = None,
                 slots: int | None = None):
        self.spec = catalog.get_spec(name)
        self.name = self.model = name
        self.sha256 = self.spec.sha256
        self._path, self._port, self._command = path, port, command
        self.n_ctx = n_ctx or self.spec.n_ctx
        self.n_threads = n_threads or cpu_threads()
        self.startup_timeout = startup_timeout
        self.logprobs = logprobs  # llama-cpp-python returns generation logprobs only with logits_all (slower)
        self.prompt_cache_mb = prompt_cache_mb if prompt_cache_mb is not None else prompt_cache_default()
        self.slots = slots if slots is not None else batch_slots_default()
        self.log_path = cache_dir() / "logs" / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.started_in = 0.0

    @property
    def api_base(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _argv(self, port: int) -> list[str]:
        if self._command is not None:
            return [a.replace("{port}", str(port)) for a in self._command]
        model = ensure_weights(self.spec, self._path)
        return [sys.executable, "-m", "codeclm.local.server", str(os.getpid()),
                "--model", str(model), "--model_alias", self.name, "--host", HOST, "--port", str(port),
                "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
                "--n_threads_batch", str(self.n_threads), "--logits_all", "true" if self.logprobs else "false",
                "--interrupt_requests", "false",  # a new request must never cut a streamed one short
                *(["--cache", "true", "--cache_type", "ram", "--cache_size", str(self.prompt_cache_mb << 20)]
                  if self.prompt_cache_mb else ["--cache", "false"])]

    def start(self) -> LocalServer:
        """Start the process and wait until it is healthy; LocalModelError (one line) otherwise."""
        if self._command is None and importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelError(f"local model {self.name} needs llama-cpp-python, which is not installed: "
                                  f"{catalog.INSTALL_HINT} (or point models.* at an API endpoint)")
        if self._port is not None:
            check_port_free(self._port)
        for attempt in range(3):
            port = self._port if self._port is not None else free_port()
            argv = self._argv(port)
            try:
                self._spawn(argv, port)
                return self
            except BaseException as exc:  # Ctrl-C while waiting must not leave the process behind
                self.stop()
                if not isinstance(exc, _PortTaken):
                    raise
                if self._port is not None or attempt == 2:
                    raise LocalModelError(f"port {port} on {HOST} is in use; pick another port or leave it unset") from None
        raise AssertionError("unreachable")

    def _spawn(self, argv: list[str], port: int) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists() and self.log_path.stat().st_size > 5 << 20:
            self.log_path.unlink()
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB_ENV}
        env["CODECLM_LOCAL_SLOTS"] = str(self.slots)  # read by the server process (codeclm.local.server)
        env.setdefault("CODECLM_COMPUTE_LOCK", str(cache_dir() / "compute.lock"))  # one local server computes at a time
        t0 = time.monotonic()
        with open(self.log_path, "a") as logf:
            logf.write(f"\n=== codeclm: starting {self.name} on port {port}: {' '.join(argv)}\n")
            logf.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        self.port = port
        _LIVE.add(self)
        log.info("started local server %s (pid %d) at %s; log %s", self.name, self.proc.pid, self.api_base, self.log_path)
        deadline = t0 + self.startup_timeout
        while not healthy(self.api_base, self.model):
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                if "address already in use" in tail.lower():
                    raise _PortTaken()
                raise LocalModelError(f"local server for {self.name} exited with code {self.proc.returncode} "
                                      f"during start-up: {tail} (full log: {self.log_path})")
            if time.monotonic() > deadline:
                self.stop()
                raise LocalModelError(f"local server for {self.name} was not healthy after {self.startup_timeout:.0f} s; "
                                      f"see {self.log_path} (raise startup_timeout on a slow machine)")
            time.sleep(0.1)
        self.started_in = time.monotonic() - t0
        log.info("local server %s healthy after %.1f s", self.name, self.started_in)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> None:
        """Raise LocalModelError if the server died after start-up (call it when a request fails)."""
        if self.proc is not None and self.proc.poll() is not None:
            raise LocalModelError(f"local server for {self.name} (pid {self.proc.pid}) died with code "
                                  f"{self.proc.returncode}: {self.log_tail()} (full log: {self.log_path}); run again")

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join([ln.strip() for ln in text if ln.strip()][-lines:])[-400:] or "(empty log)"

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process group, then kill it if it does not exit within ``timeout``."""
        proc = self.proc
        if proc is None:
            return
        _LIVE.discard(self)
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            log.info("stopped local server %s (pid %d)", self.name, proc.pid)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _PortTaken(Exception):
    pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop(timeout=5.0)
