"""A run that reaches a cap stops cleanly: one line, whole records only, a resumable output; on a stub server.

Runs against: a stub server (tests/stub_server.py on 127.0.0.1: scripted pipeline replies on the wire), no model.
"""

import json
from pathlib import Path

from stub_server import StubServer
from test_run_resume import SECRET, records, respond_as_pipeline, write_program

from codeclm.cli import main
from codeclm.models.config import load_config
from codeclm.run import manifest_path, run


def test_max_calls_stops_the_run_before_the_call_that_would_pass_it_and_a_rerun_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CODECLM_TEST_KEY", SECRET)
    with StubServer(responder=respond_as_pipeline) as stub:
        ref = tmp_path / "ref"
        ref.mkdir()
        summary = run(load_config(write_program(ref, stub.url, ref / "calls.sqlite")))
        reference, total = records(Path(summary["output"])), stub.stats()["requests"]

        capped = tmp_path / "capped"
        capped.mkdir()
        program = write_program(capped, stub.url, capped / "calls.sqlite")
        stub.reset()
        cap = total // 2
        code = main(["run", str(program), "--set", f"max_calls={cap}"])
        assert stub.stats()["requests"] == cap  # stopped at the cap exactly: no call past it
        assert code == 3
        err = capsys.readouterr().err
        assert "max_calls" in err and "rerun with a higher max_calls" in err
        out = capped / "out" / "data.jsonl"
        manifest = json.loads(manifest_path(out).read_text())
        assert manifest["status"].startswith("stopped: ") and manifest["stopped_by"] == "max_calls"
        assert manifest["caps"]["calls"] == cap and manifest["caps"]["caps"] == {"max_calls": cap}
        partial = records(out)  # every line a whole record
        assert len(partial) < len(reference)

        stub.reset()
        assert main(["run", str(program), "--set", f"max_calls={total}"]) == 0  # raising the cap resumes, no --extend
        assert records(out).keys() == reference.keys()
        assert stub.stats()["requests"] == total - cap  # what the capped run paid is not paid again


def test_caps_on_another_executor_are_refused_in_one_line(tmp_path, capsys):
    program = write_program(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "calls.sqlite")
    assert main(["run", str(program), "--set", "max_usd=5", "--executor", "batch"]) == 2
    err = capsys.readouterr().err.strip()
    assert "max_usd" in err and "--executor threads" in err and len(err.splitlines()) == 1
