"""Shared test set-up: no network at import, no DSPy caches (replays must see every call)."""

import os
import sys
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
sys.path.insert(0, str(Path(__file__).parent))

import dspy  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _no_dspy_cache():
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    yield


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache_dir(tmp_path_factory):
    """No test reads or writes the user's cache (call cache, judge calibration, server registry):
    a cached result would hide calls a cassette must hold. Assembled model weights stay shared."""
    import platformdirs

    saved = {k: os.environ.get(k) for k in ("CODECLM_CACHE_DIR", "CODECLM_MODELS_DIR")}
    real = os.environ.get("CODECLM_CACHE_DIR") or platformdirs.user_cache_dir("codeclm")
    os.environ.setdefault("CODECLM_MODELS_DIR", os.path.join(real, "models"))
    os.environ["CODECLM_CACHE_DIR"] = str(tmp_path_factory.mktemp("codeclm-cache"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def root() -> Path:
    return ROOT


# ---- Cassettes (pytest-recording / vcrpy) -------------------------------------------------
# Recorded against a real OpenAI-compatible server. Requests match on method, path and body
# (never host or port: a local server's port changes every start). Keys never reach a file.
SECRET_HEADERS = ["authorization", "api-key", "x-api-key", "openai-organization", "cookie", "set-cookie"]
REPLAY_API_BASE = "http://127.0.0.1:9/v1"  # nothing listens there: a replay miss fails loudly


def _scrub_response(response):
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in SECRET_HEADERS:
            headers.pop(name)
    return response


@pytest.fixture(scope="module")
def vcr_config():
    return {
        "filter_headers": SECRET_HEADERS,
        "match_on": ["method", "path", "body"],
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir(request):
    return str(ROOT / "cassettes" / request.module.__name__.split(".")[-1])


@pytest.fixture
def recorded_api_base() -> str:
    """The server a recording session talks to (CODECLM_RECORD_API_BASE); a dead port on replay."""
    return os.environ.get("CODECLM_RECORD_API_BASE", REPLAY_API_BASE)
