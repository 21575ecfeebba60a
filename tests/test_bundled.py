"""Bundled programs by name, `codeclm init`'s editable copy, `--version`, and `--seeds` under `seeds.limit`
(in this checkout; tests/test_installed.py does the same from a built wheel).

Runs against: no model for the names, init, show and --version; fake LMs (tests/fakes.py ScriptedLM) for the seeds limit run.
"""

import io

import pytest
from fakes import ScriptedLM, word_scores
from pipeline_scripts import strong_script
from rich.console import Console

import codeclm
from codeclm.prompting import bundled
from codeclm.cli import main
from codeclm.models.config import load_config
from codeclm.errors import ConfigError
from codeclm.run import run


def test_bundled_names(root):
    assert {"codeclm", "codeclm_vllm", "self_instruct", "evol_instruct"} <= set(bundled.names())
    assert bundled.data_dir("prompts") == root / "prompts"  # a checkout reads its own top-level folders


def test_a_bundled_program_by_name_writes_to_the_current_folder(tmp_path, monkeypatch, root):
    monkeypatch.chdir(tmp_path)
    config = load_config("codeclm")
    assert config.bundled and config.output == str(tmp_path / "data" / "codeclm.jsonl")
    assert config.resolve(config.prompts) == root / "prompts"
    assert load_config("self_instruct.yaml", ["output=out/x.jsonl"]).output == str(tmp_path / "out" / "x.jsonl")
    # a file of that name in the current folder wins over the bundled program
    (tmp_path / "codeclm.yaml").write_text((root / "programs" / "codeclm.yaml").read_text().replace("name: codeclm", "name: mine"))
    assert load_config("codeclm.yaml").name == "mine" and not load_config("codeclm.yaml").bundled


def test_unknown_program_names_the_bundled_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"no-such: program file not found, and no bundled program has that name \(bundled: codeclm, "):
        load_config("no-such")


def test_init_writes_an_editable_copy_that_runs_use(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "mine"]) == 0
    program = tmp_path / "mine" / "codeclm.yaml"
    config = load_config(program)
    assert not config.bundled and config.resolve(config.prompts) == tmp_path / "mine" / "prompts"
    assert config.resolve(config.output) == tmp_path / "mine" / "data" / "codeclm.jsonl"
    assert "# CodecLM program" in program.read_text()  # the comments that explain each setting are kept
    respond = tmp_path / "mine" / "prompts" / "respond.jinja"
    respond.write_text("Answer in exactly one word.")
    capsys.readouterr()
    assert main(["show", str(program), "respond"]) == 0
    assert "Answer in exactly one word." in capsys.readouterr().out  # the copy's template is the one used
    # never overwrites an edit
    assert main(["init", "mine"]) == 2
    assert "codeclm.yaml: exists; codeclm init never overwrites" in capsys.readouterr().err
    assert respond.read_text() == "Answer in exactly one word."
    assert main(["init", "other", "--program", "self_instruct"]) == 0
    assert load_config(tmp_path / "other" / "self_instruct.yaml").program == "self_instruct"
    assert main(["init", "x", "--program", "nope"]) == 2 and "--program nope: no bundled program" in capsys.readouterr().err


def test_version_names_its_runtime(capsys):
    assert main(["--version"]) == 0  # argparse's exit from the version action, returned as the exit status
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"codeclm {codeclm.__version__} (dspy ") and "llama-cpp-python " in line


def test_seeds_file_cut_by_the_programs_limit_says_so(tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(f"Write a haiku about the number {n}." for n in range(5)))
    config = load_config("codeclm", ["seeds.limit=2", "num_metadata=1", "instructions_per_metadata=1", "max_iterations=1",
                                     "judging.check.enabled=false", "theta=1.0", f"cache.path={tmp_path / 'calls.sqlite'}"])
    lms = {"strong": ScriptedLM(strong_script()), "target": ScriptedLM(lambda s, m: {"response": "?"},
                                                                       scorer=word_scores(lambda t, k: -3.0))}
    out = io.StringIO()
    run(config, seeds_path=str(seeds), output=str(tmp_path / "d.jsonl"), lms=lms, console=Console(file=out, width=300))
    assert f"seeds: the first 2 of {seeds} only" in out.getvalue() and "--set seeds.limit=null" in out.getvalue()
    out = io.StringIO()
    run(load_config("codeclm", ["seeds.limit=null", "num_metadata=1", "instructions_per_metadata=1", "max_iterations=1",
                                "judging.check.enabled=false", "theta=1.0", f"cache.path={tmp_path / 'calls.sqlite'}"]),
        seeds_path=str(seeds), output=str(tmp_path / "e.jsonl"), lms=lms, console=Console(file=out, width=300))
    assert "seeds: the first" not in out.getvalue()


def test_a_program_without_prompts_uses_the_shipped_templates(tmp_path, root):
    program = tmp_path / "mine.yaml"
    program.write_text("models:\n  strong: {model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}\n"
                       "  target: {model: my-llama, api_base: 'http://localhost:8000/v1', chat_template: llama3}\n"
                       "seeds: {path: benchmark:vicuna}\noutput: data/mine.jsonl\n")
    config = load_config(program)
    assert config.prompts is None and config.prompts_dir() == root / "prompts"
    assert config.prompt_library().render("respond").path == str(root / "prompts" / "respond.jinja")
