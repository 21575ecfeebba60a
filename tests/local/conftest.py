"""Local-model tests: every unit test gets its own cache dir (weights, logs, servers.json)."""

from pathlib import Path

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("CODECLM_CACHE_DIR", str(d))
    monkeypatch.delenv("CODECLM_MODELS_DIR", raising=False)  # weights under this cache dir too
    return d
