"""Shared test set-up: no network at import, no DSPy caches (replays must see every call); every cassette
interaction must be played; `--fail-on-skip` (tests/skip_check.py).

Runs against: nothing itself (fixtures and hooks for the other test files).
"""

import os
import sys
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
sys.path.insert(0, str(Path(__file__).parent))

import dspy  # noqa: E402
import pytest  # noqa: E402
from skip_check import (  # noqa: E402,F401 - pytest hooks: --fail-on-skip (.ci/run)
    pytest_addoption, pytest_collectreport, pytest_runtest_logreport, pytest_sessionfinish,
)

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


@pytest.fixture
def cache(tmp_path):
    """An empty call cache in the test's own folder (tests/local/conftest.py has its own `cache`: a cache dir)."""
    from codeclm.engine import CallCache

    calls = CallCache(tmp_path / "calls.sqlite")
    yield calls
    calls.close()


# ---- Cassettes (pytest-recording / vcrpy) -------------------------------------------------
# What each cassette was recorded against (real local models, the scripted optimize world, or written by hand
# from an API reference) is said in its test module's docstring and in tests/README.md. Requests match on method, path and body
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


def pytest_configure(config):
    config.addinivalue_line("markers", "cassette_partly_played(reason): a cassette test that need not replay every "
                            "recorded interaction; the reason says why (and the test checks what it does replay)")


@pytest.fixture(autouse=True)
def _every_cassette_interaction_is_played(request):
    """A replayed cassette must be played in full: an interaction never played was recorded for behaviour the code
    no longer has (a stale cassette), and whatever the test asserts about it is not being tested."""
    if request.node.get_closest_marker("vcr") is None:
        yield
        return
    cassette = request.getfixturevalue("vcr")  # set up before this fixture's body: torn down after the check below
    yield
    partly = request.node.get_closest_marker("cassette_partly_played")
    if cassette.record_mode != "none" or partly is not None:
        return
    unplayed = [i for i in range(len(cassette.data)) if cassette.play_counts[i] == 0]
    if unplayed:
        requests = [f"#{i} {cassette.data[i][0].method} {cassette.data[i][0].path}" for i in unplayed[:5]]
        pytest.fail(f"{cassette._path}: {len(unplayed)} of {len(cassette.data)} recorded interactions never played "  # noqa: SLF001
                    f"({', '.join(requests)}): the cassette is stale; re-record it (tests/README.md)", pytrace=False)
