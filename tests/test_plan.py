"""`codeclm plan`: a pilot projects a records: N run, its calls are replayed by the real run, the manifest compares.

Runs against: a stub server (tests/stub_server.py on 127.0.0.1: scripted pipeline replies on the wire), no model.
"""

import json

from fakes import chat_answer, is_plain, step_from_request as step_of, to_plain
from pipeline_scripts import half_kept, strong_script
from stub_server import StubServer
from test_run_resume import SECRET, write_program

from codeclm.cli import main
from codeclm.run import manifest_path
from codeclm.output.sizing import plan_path, project, wilson


def responder(body):
    messages = body["messages"]
    answer = {"response": "target answer"} if body["model"].endswith("target") else strong_script(half_kept)(step_of(messages), messages)
    return to_plain(answer) if is_plain(messages) else chat_answer(answer)


def test_plan_runs_a_pilot_whose_calls_the_real_run_replays(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CODECLM_TEST_KEY", SECRET)
    with StubServer(responder=responder) as stub:
        program = write_program(tmp_path, stub.url, tmp_path / "calls.sqlite")
        assert main(["plan", str(program), "--records", "3", "--pilot", "2", "--set", "concurrency=2"]) == 0
        err = capsys.readouterr().err
        assert "pilot of 2 records" in err and "dollars" in err and "wall time" in err
        out = tmp_path / "out" / "data.jsonl"
        plan = json.loads(plan_path(out).read_text())
        projection = plan["projection"]
        assert projection["observed"]["kept"] == 2 and 0 < projection["yield"] < 1
        assert projection["measures"]["calls"]["low"] <= projection["measures"]["calls"]["point"] <= projection["measures"]["calls"]["high"]
        pilot_requests = stub.stats()["requests"]
        stub.reset()
        assert main(["run", str(program), "--records", "3", "--set", "concurrency=2"]) == 0
        manifest = json.loads(manifest_path(out).read_text())
        assert manifest["kept"] == 3
        assert manifest["usage"]["total"]["cache_hits"] > 0  # the pilot's calls, replayed
        assert stub.stats()["requests"] == manifest["usage"]["total"]["calls"] < pilot_requests + stub.stats()["requests"]
        compared = manifest["plan"]["measures"]["calls"]
        assert compared["actual"] == manifest["usage"]["total"]["calls"] + manifest["usage"]["total"]["cache_hits"]
        assert compared["projected"] == projection["measures"]["calls"] and compared["relative_error"] is not None


def test_plan_from_a_manifest_without_records_is_refused_in_one_line(tmp_path, capsys):
    program = write_program(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "calls.sqlite")
    assert main(["plan", str(program)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--records N" in err and len(err.splitlines()) == 1
    assert main(["plan", str(program), "--records", "5", "--from", str(tmp_path / "missing.json")]) == 2
    assert "--from" in capsys.readouterr().err


def test_projection_scales_with_the_yield_and_its_interval():
    seen = {"kept": 10, "asked": 40, "check_calls": 0,
            "per_instruction": {"calls": 6.0, "prompt_tokens": 900.0, "completion_tokens": 300.0, "usd": 0.001, "seconds": 2.0}}
    result = project(seen, 100)
    assert result["instructions"]["point"] == 400.0 and result["measures"]["calls"]["point"] == 2400.0
    low, high = wilson(10, 40)
    assert result["measures"]["calls"]["low"] == round(100 / high * 6, 1) and result["measures"]["calls"]["high"] == round(100 / low * 6, 1)
    assert project({**seen, "kept": 0}, 100)["measures"] is None
