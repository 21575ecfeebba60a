"""Installed, not cloned: build the wheel, install it into a fresh venv outside the checkout, and from an empty
folder run `codeclm --version`, `codeclm show codeclm`, `codeclm init` and the main job (a cassette replay).

Nothing is downloaded or built again: the wheel is built without build isolation and without an index, it is
installed with --no-deps, and the fresh venv reaches its dependencies through a .pth line pointing at this
interpreter's site-packages (a path line only: the checkout's editable install there is not activated).

Runs against: a cassette recorded from real local models (tests/test_pipeline_cassette.py's: Qwen2.5-Coder-1.5B,
SmolLM2-135M), replayed by the installed package.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import codeclm

ROOT = Path(__file__).resolve().parent.parent
CASSETTE = ROOT / "cassettes" / "test_pipeline_cassette" / "test_codeclm_program_end_to_end.yaml"
STRONG, TARGET = "qwen2.5-coder-1.5b-instruct", "smollm2-135m-instruct"
REPLAY = """
import sys, vcr
from codeclm.cli import main
with vcr.VCR(record_mode="none", match_on=["method", "path", "body"], decode_compressed_response=True).use_cassette(sys.argv[1]):
    sys.exit(main(sys.argv[2:]))
"""
# tests/test_pipeline_cassette.py's settings but its theta: the same iteration-1 requests, so its cassette answers them
RUN_SETTINGS = ["seeds.limit=2", "num_metadata=2", "instructions_per_metadata=2", "max_iterations=2", "judging.check.enabled=false",
                "theta=1.0",  # the scheme's default (every item kept at iteration 1), set: no calibration changes it
                f"models.strong={{model: {STRONG}, api_base: 'http://127.0.0.1:9/v1', max_tries: 1}}",
                f"models.target={{model: {TARGET}, api_base: 'http://127.0.0.1:9/v1', max_tries: 1, chat_template: chatml}}"]


def sh(*command, cwd, env, timeout=120) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh venv's bin folder, an environment for it) with codeclm installed from its wheel."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "data", "tests", "cassettes", "benchmarks", ".ci"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", work / "wheel",
       source, cwd=work, env=env, timeout=300)
    wheel = next((work / "wheel").glob("codeclm-*.whl"))
    venv = work / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work, env=env)
    python = venv / "bin" / "python"
    sh(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=work, env=env)
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        env=env, text=True).strip())
    (site / "_codeclm_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env["CODECLM_CACHE_DIR"] = str(work / "cache")
    env.setdefault("CODECLM_MODELS_DIR", os.environ.get("CODECLM_MODELS_DIR", str(work / "models")))
    return venv / "bin", env, wheel


def test_the_wheel_carries_programs_and_templates(installed):
    import zipfile

    names = zipfile.ZipFile(installed[2]).namelist()
    for kind, pattern in (("programs", ".yaml"), ("prompts", ".jinja")):
        shipped = sorted(p.name for p in (ROOT / kind).iterdir() if p.name.endswith(pattern))
        assert shipped and all(f"codeclm/_bundled/{kind}/{name}" in names for name in shipped)


def test_installed_codeclm_runs_from_an_empty_folder(installed, tmp_path):
    bin_, env, _ = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    where = sh(bin_ / "python", "-c", "import codeclm; print(codeclm.__file__)", cwd=empty, env=env)
    assert str(bin_.parent) in where and str(ROOT) not in where  # the wheel's copy, not the checkout

    assert sh(bin_ / "codeclm", "--version", cwd=empty, env=env).startswith(f"codeclm {codeclm.__version__} (dspy ")
    shown = sh(bin_ / "codeclm", "show", "codeclm", "respond", cwd=empty, env=env)
    assert "Answer the instruction directly" in shown

    sh(bin_ / "codeclm", "init", "mine", cwd=empty, env=env)
    assert (empty / "mine" / "codeclm.yaml").is_file() and (empty / "mine" / "prompts" / "respond.jinja").is_file()

    replay = tmp_path / "replay.py"
    replay.write_text(REPLAY)
    settings = [arg for s in RUN_SETTINGS for arg in ("--set", s)]
    sh(bin_ / "python", replay, CASSETTE, "run", "codeclm", *settings, "--set", f"cache.path={tmp_path / 'a.sqlite'}",
       cwd=empty, env=env)
    kept = [json.loads(line) for line in (empty / "data" / "codeclm.jsonl").read_text().splitlines()]
    manifest = json.loads((empty / "data" / "codeclm.manifest.json").read_text())
    assert len(kept) == manifest["kept"] == 4 and manifest["status"] == "finished"
    assert manifest["versions"]["codeclm"] == codeclm.__version__

    # the init copy is a program of its own: same templates, so the same requests; its output stays beside it
    sh(bin_ / "python", replay, CASSETTE, "run", "mine/codeclm.yaml", *settings, "--set", f"cache.path={tmp_path / 'b.sqlite'}",
       cwd=empty, env=env)
    copied = [json.loads(line) for line in (empty / "mine" / "data" / "codeclm.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in copied) == sorted(r["id"] for r in kept)
    assert all(r["templates"] == kept[0]["templates"] for r in copied)
