"""One way to open a program: load_program and eval open the engine, so a second identical call is a cache hit
and the ledger counts both.
Runs against: tests/stub_server.py (scripted replies: a fake, not a model).
"""

import yaml
from stub_server import StubServer
from test_run_resume import SECRET, respond_as_pipeline, write_program

import codeclm
from codeclm.programs.session import session_of


def test_load_program_caches_and_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("CODECLM_TEST_KEY", SECRET)
    with StubServer(responder=respond_as_pipeline) as stub:
        program = codeclm.load_program(write_program(tmp_path, stub.url, tmp_path / "calls.sqlite"))
        first = program(seeds=["Write a Python function that checks for palindromes."])
        requests = stub.stats()["requests"]
        again = program(seeds=["Write a Python function that checks for palindromes."])
        assert stub.stats()["requests"] == requests  # nothing paid twice
    assert [r.model_dump() for r in again.records] == [r.model_dump() for r in first.records] and first.records
    usage = session_of(program).engine.ledger.summary()["total"]
    assert usage["calls"] == requests and usage["cache_hits"] >= requests


def test_eval_caches_and_counts(tmp_path, monkeypatch, root):
    monkeypatch.setenv("CODECLM_TEST_KEY", SECRET)

    def respond(body):
        if "`score_1`" in body["messages"][0]["content"]:  # the pairwise judge
            return "[[ ## score_1 ## ]]\n8\n\n[[ ## score_2 ## ]]\n6\n\n[[ ## explanation ## ]]\nok\n\n[[ ## completed ## ]]"
        return "An answer."

    with StubServer(responder=respond) as stub:
        path = write_program(tmp_path, stub.url, tmp_path / "calls.sqlite")
        data = yaml.safe_load(path.read_text())
        data["judging"] = {"scheme": "pairwise-1-10", "check": {"enabled": False}}
        path.write_text(yaml.safe_dump(data))
        args = dict(program=path, limit=2, out=tmp_path / "eval.jsonl", scheme="pairwise-1-10", bootstrap=10,
                    unverified=True)  # a stub judge: no filter check to pass; this tests the call cache
        codeclm.evaluate("vicuna", "target", "strong", **args)
        requests = stub.stats()["requests"]
        (tmp_path / "eval.jsonl").unlink()  # no resume from the file: only the call cache can answer
        report = codeclm.evaluate("vicuna", "target", "strong", **args)
        assert stub.stats()["requests"] == requests and requests > 0
    assert report.total == 2 and report.overall.failed == 0
    assert report.usage["total"]["calls"] == 0 and report.usage["total"]["cache_hits"] >= requests  # counted, not paid
