"""Bad input, as a user meets it on the command line: exit 2, ONE line naming the file or field and a fix
that works, and finished work intact.
Runs against: tests/stub_server.py (scripted replies: a fake, not a model) where a run needs an endpoint.
"""

import json
from pathlib import Path

import pytest
import yaml
from stub_server import StubServer
from test_run_resume import SECRET, respond_as_pipeline, write_program

from codeclm.cli import main
from codeclm.run import manifest_path
from codeclm.output.sink import dropped_path


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("CODECLM_TEST_KEY", SECRET)


def error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, lines
    return errors[0]


def finished_program(tmp_path: Path, stub) -> tuple[Path, Path, str]:
    """A program that already made its output once; returns program, output, and the output's text."""
    program = write_program(tmp_path, stub.url, tmp_path / "calls.sqlite")
    assert main(["run", str(program)]) == 0
    out = tmp_path / "out" / "data.jsonl"
    return program, out, out.read_text()


def edit(program: Path, **changes) -> None:
    data = yaml.safe_load(program.read_text())
    data.update(changes)
    program.write_text(yaml.safe_dump(data))


def test_non_utf8_program_file(tmp_path, capsys):
    (tmp_path / "p.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert main(["run", str(tmp_path / "p.yaml")]) == 2
    assert "p.yaml: not UTF-8 text (byte 9); save the program file as UTF-8" in error_line(capsys)


def test_seed_that_is_not_text(tmp_path, capsys):
    program = write_program(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "calls.sqlite")
    (tmp_path / "seeds.jsonl").write_text('{"instruction": ["a", "b"]}\n')
    edit(program, seeds={"path": "seeds.jsonl"})
    assert main(["run", str(program)]) == 2
    assert "seeds.jsonl: row 1 field 'instruction' is list, not text" in error_line(capsys)


def test_seeds_where_that_matches_no_row_names_the_values_found(tmp_path, capsys):
    program = write_program(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "calls.sqlite")  # nothing listens there
    (tmp_path / "seeds.jsonl").write_text('{"instruction": "a", "topic": "code"}\n{"instruction": "b", "topic": "maths"}\n')
    edit(program, seeds={"path": "seeds.jsonl", "where": {"topic": "cooking"}})
    assert main(["run", str(program)]) == 2
    assert "seeds.jsonl: no row has topic = cooking (seeds.where); values found: code, maths" in error_line(capsys)


def test_output_that_cannot_be_written_is_found_before_any_call(tmp_path, capsys):
    program = write_program(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "calls.sqlite")  # nothing listens there
    (tmp_path / "a_file").write_text("x")
    assert main(["run", str(program), "--out", str(tmp_path / "a_file" / "data.jsonl")]) == 2
    assert "cannot write there" in error_line(capsys)
    assert main(["run", str(program), "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file path" in error_line(capsys)


def test_unset_key_variable_names_the_yaml_file(tmp_path, capsys, monkeypatch):
    program = write_program(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "calls.sqlite")
    monkeypatch.delenv("CODECLM_TEST_KEY")
    assert main(["run", str(program)]) == 2
    line = error_line(capsys)
    assert f"{program}: models.strong.api_key_env: environment variable CODECLM_TEST_KEY is not set" in line


@pytest.mark.parametrize("content, message", [(None, "tuned program not readable"), ("{nope", "not a tuned program (invalid JSON")])
def test_bad_tuned_file(tmp_path, capsys, content, message):
    program = write_program(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "calls.sqlite")
    tuned = tmp_path / "t.json"
    if content is not None:
        tuned.write_text(content)
    assert main(["run", str(program), "--tuned", str(tuned)]) == 2
    assert message in error_line(capsys)


def test_corrupt_output_line_and_another_programs_output_leave_finished_work_intact(tmp_path, capsys):
    with StubServer(responder=respond_as_pipeline) as stub:
        program, out, before = finished_program(tmp_path, stub)
        dropped_before = dropped_path(out).read_text() if dropped_path(out).exists() else ""
        capsys.readouterr()
        # another program's settings: refused, naming what changed and the flags that work
        edit(program, num_metadata=4)
        assert main(["run", str(program)]) == 2
        line = error_line(capsys)
        assert "was made by another program (num_metadata 3 -> 4)" in line and "--extend" in line and "--out" in line
        # a corrupt line in the middle of the output: refused before any call, file:line named
        lines = before.splitlines()
        out.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
        requests = stub.stats()["requests"]
        assert main(["run", str(program), "--extend"]) == 2
        assert "data.jsonl:2: not a JSON line" in error_line(capsys) and stub.stats()["requests"] == requests
        assert (dropped_path(out).read_text() if dropped_path(out).exists() else "") == dropped_before


def test_a_dead_endpoint_stops_the_run_and_the_manifest_says_so(tmp_path, capsys):
    with StubServer(responder=respond_as_pipeline) as stub:
        program, out, before = finished_program(tmp_path, stub)
    dropped_before = dropped_path(out).read_text() if dropped_path(out).exists() else ""
    data = yaml.safe_load(program.read_text())
    for role in ("strong", "target"):
        data["models"][role].update(api_base="http://127.0.0.1:9/v1", max_tries=1)
    data["cache"] = {"enabled": False}
    data["num_metadata"] = 4
    program.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["run", str(program), "--extend"]) == 2
    assert "connection refused" in error_line(capsys)
    after = dropped_path(out).read_text()
    assert out.read_text() == before and after.startswith(dropped_before)  # earlier lines kept; new failures appended
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["status"].startswith("stopped: EndpointError") and manifest["kept"] == len(before.splitlines())
    assert manifest["dropped"] == len({json.loads(line)["id"] for line in after.splitlines()})


def test_missing_local_extra_names_the_install_command(monkeypatch, capsys, root):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    assert main(["judge", "check", str(root / "programs" / "codeclm.yaml")]) == 2
    assert "needs llama-cpp-python, which is not installed: pip install 'codeclm[local]'" in error_line(capsys)
