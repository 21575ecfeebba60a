"""A Ray worker: the driver's program, opened once in this process, running one stage item at a time per slot.

A worker opens the program the way the driver did (`open_program`: same config, same prompt files,
same tuned file), but on an engine whose cache and limiters are the cluster's (ClusterCache,
cluster_limiter_for). Prompt files and the tuned file travel as bytes (`ProgramFiles`), so a node
needs codeclm installed, not the driver's folders. Before its first item it proves it is the same
program: its templates' and tuned file's hashes and its codeclm sources must be the driver's
(`Identity`), or it refuses with what differs. Items and results travel pickled; each result
carries the usage (calls, tokens, guard counts) this worker recorded since its last result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from codeclm.models.config import ProgramConfig
from codeclm.errors import CodecLMError, ConfigError, StepError

log = logging.getLogger(__name__)

MAX_PROGRAM_FILES_BYTES = 16 * 1024 * 1024


def local_model_check(config: ProgramConfig) -> None:
    """Embedded `local:` models belong to one process: under Ray they must be served (`codeclm serve`) on each node."""
    from codeclm.local import find_running
    from codeclm.models.roles import role_specs

    for role, spec in role_specs(config).items():
        if spec.local and find_running(spec.local) is None:
            raise ConfigError(f"{config.source}: models.{role}: local:{spec.local} under --executor ray: start it first with "
                              f"`codeclm serve {spec.local}` on every node (an embedded server belongs to one process), "
                              f"or point models.{role} at a served endpoint (model + api_base, e.g. vLLM)")


@dataclass(frozen=True)
class ProgramFiles:
    """The files a program reads when it opens, as bytes: its prompts folder and its tuned file."""

    prompts: dict[str, bytes]
    tuned: bytes | None = None

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.prompts.values()) + len(self.tuned or b"")

    @classmethod
    def of(cls, config: ProgramConfig, tuned: str | Path | None) -> "ProgramFiles":
        folder = config.prompts_dir()
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.is_dir() else {}
        size = sum(len(b) for b in files.values())
        if size > MAX_PROGRAM_FILES_BYTES:
            raise CodecLMError(f"{folder}: the prompts folder holds {size // 1024 // 1024} MB; Ray workers receive it "
                               f"whole, so keep only templates there (at most {MAX_PROGRAM_FILES_BYTES // 1024 // 1024} MB)")
        return cls(prompts=files, tuned=Path(tuned).read_bytes() if tuned else None)

    def write(self, config: ProgramConfig, folder: Path) -> tuple[ProgramConfig, Path | None]:
        """Write the files under `folder`; the config that reads them there, and the tuned file's path."""
        prompts = folder / "prompts"
        for name, data in self.prompts.items():
            (prompts / name).parent.mkdir(parents=True, exist_ok=True)
            (prompts / name).write_bytes(data)
        prompts.mkdir(exist_ok=True)
        tuned = None
        if self.tuned is not None:
            tuned = folder / "tuned.json"
            tuned.write_bytes(self.tuned)
        return config.model_copy(update={"prompts": str(prompts)}), tuned


def source_digest() -> str:
    """sha256 over codeclm's Python sources: two processes with the same digest run the same code."""
    import codeclm

    root = Path(codeclm.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Identity:
    """What makes two opened programs the same: template hashes, tuned file hash, code and library versions, and
    each role's model as the cache knows it (`models` None: not compared)."""

    templates: dict[str, str]
    tuned: str | None
    code: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] | None = None

    @staticmethod
    def models_of(lms: dict[str, Any]) -> dict[str, str]:
        from codeclm.output.fingerprint import model_identity

        return {role: model_identity(lm) for role, lm in sorted(lms.items())}

    @staticmethod
    def code_versions() -> dict[str, str]:
        versions = {"codeclm sources": source_digest()[:16]}
        for name in ("dspy", "litellm"):
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                versions[name] = "missing"
        return versions

    def differences(self, other: "Identity") -> list[str]:
        """What differs, as 'name: driver's vs this worker's'."""
        diffs = [f"template {step}" for step in sorted(set(self.templates) | set(other.templates))
                 if self.templates.get(step) != other.templates.get(step)]
        if self.tuned != other.tuned:
            diffs.append("tuned program file")
        diffs += [f"{name} {self.code.get(name)} vs {other.code.get(name)}" for name in sorted(set(self.code) | set(other.code))
                  if self.code.get(name) != other.code.get(name)]
        if self.models is not None and other.models is not None:
            diffs += [f"models.{role} {self.models.get(role)} vs {other.models.get(role)}"
                      for role in sorted(set(self.models) | set(other.models)) if self.models.get(role) != other.models.get(role)]
        return diffs


@dataclass
class StageResult:
    """One item's result as it travels back: a value or a step failure, and the usage recorded since the last one."""

    value: Any = None
    error: str | None = None
    stage: str | None = None
    endpoint_failure: bool = False
    permanent: bool = False
    usage: dict[str, Any] = field(default_factory=dict)
    guards: dict[str, dict[str, int]] = field(default_factory=dict)


class ProgramWorker:
    """The program opened once in a Ray worker process; `run` calls one of its stage methods on one item.

    Never raises while starting: `ready()` returns why it could not open the program (None when it did).
    """

    def __init__(self, config: ProgramConfig, files: ProgramFiles, expected: Identity, cache_name: str | None,
                 registry_name: str):
        import ray

        from codeclm.engine import Engine, UsageLedger
        from codeclm.cluster.cache import ClusterCache
        from codeclm.cluster.limits import cluster_limiter_for
        from codeclm.models.roles import role_prices
        from codeclm.programs.session import open_program

        self.failure: str | None = None
        self.session = None
        self.where = f"Ray worker pid {os.getpid()} on {socket.gethostname()}"
        context = ray.get_runtime_context()
        owner = (context.get_actor_id(), context.get_worker_id())
        try:
            limiter_registry = ray.get_actor(registry_name)
            ray.get(limiter_registry.forget.remote(*owner))  # a restart: slots the previous process held come back
            local_model_check(config)  # never start an embedded server per worker
            self.folder = tempfile.TemporaryDirectory(prefix="codeclm-worker-")
            local_config, tuned = files.write(config, Path(self.folder.name))
            cache = ClusterCache(ray.get_actor(cache_name)) if cache_name else None
            engine = Engine(cache=cache, ledger=UsageLedger(role_prices(config)), limiter_for=cluster_limiter_for(limiter_registry, owner))
            self.session = open_program(local_config, tuned=tuned, engine=engine)
            mine = Identity(self.session.program.templates, self.session.program.tuned, Identity.code_versions(),
                            Identity.models_of(self.session.lms))
            differ = expected.differences(mine)
            if differ:
                self.failure = (f"{self.where} opened a different program than the driver ({'; '.join(differ)}): install the "
                                "same codeclm, dspy and litellm on every node, and let workers open the YAML's models "
                                "(no lms= from Python)")
        except Exception as exc:  # noqa: BLE001 - reported by ready(), with the cause's own one-line message
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.failure = f"{self.where} could not open the program: {text}"

    def ready(self) -> str | None:
        return self.failure

    def pid(self) -> int:
        return os.getpid()

    def run(self, method: str, item: Any, call: tuple[tuple[Any, ...], dict[str, Any]]) -> StageResult:
        """`program.<method>(item, *args, **kwargs)`: its value, or the StepError that failed the item."""
        if self.failure:
            raise CodecLMError(self.failure)
        program = self.session.program
        args, kwargs = call
        try:
            result = StageResult(value=getattr(program, method)(item, *args, **kwargs))
        except StepError as exc:
            log.warning("%s: item %s failed: %s", method, getattr(item, "id", item), exc)
            result = StageResult(error=str(exc), stage=exc.step, endpoint_failure=exc.endpoint_failure, permanent=exc.permanent)
        result.usage = self.session.engine.ledger.take_counts()
        counts = getattr(program, "guard_counts", None)
        result.guards = counts.take_counts() if counts is not None else {}
        return result

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        folder = getattr(self, "folder", None)
        if folder is not None:
            folder.cleanup()
