"""Helpers for the local-model tests: fake specs and the fake server command."""

import hashlib
import sys
from pathlib import Path

from codeclm.local.launcher.catalog import PinnedModel

FAKE_SERVER = str(Path(__file__).with_name("fake_openai_server.py"))
SMALL = "smollm2-135m-instruct"


def fake_command(alias: str = SMALL) -> list[str]:
    """A server command that answers /v1/models for ``alias`` on {port}."""
    return [sys.executable, FAKE_SERVER, "{port}", alias]


def make_spec(data: bytes, n_parts: int = 3, **kw) -> PinnedModel:
    fields = dict(name="fake-model", packages=tuple(f"fake-part{i}==1.0" for i in range(n_parts)),
                  part_pattern="*/part*.bin", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    fields.update(kw)
    return PinnedModel(**fields)


def write_parts(dir: Path, data: bytes, n_parts: int = 3) -> list[Path]:
    dir.mkdir(parents=True, exist_ok=True)
    step = -(-len(data) // n_parts)
    paths = []
    for i in range(n_parts):
        p = dir / f"part{i:02d}.bin"
        p.write_bytes(data[i * step:(i + 1) * step])
        paths.append(p)
    return paths
