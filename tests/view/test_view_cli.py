"""`codeclm view` on bad input (one line naming file and line, exit 2, nothing written), ports, what the page holds.

Runs against: outputs replayed from a cassette recorded from real local models (tests/test_pipeline_cassette.py's), hand-written bad files; no model runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from codeclm.cli import main
from codeclm.view import open_runs, write_html
from codeclm.view.coverage import coverage
from codeclm.view.page import payload
from codeclm.view.server import make_server
from codeclm.view.story import story
from view.cassette_runs import make_runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("runs"))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_empty_torn_and_foreign_files_give_one_line_and_exit_2(tmp_path, capsys, outputs):
    html = ["--html", str(tmp_path / "v.html")]  # so that input wrongly accepted fails the test instead of serving forever
    assert main(["view", str(tmp_path / "nope.jsonl"), *html]) == 2
    assert "nope.jsonl: no such file" in one_line_error(capsys)

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["view", str(empty), *html]) == 2
    assert "empty.jsonl: empty" in one_line_error(capsys)

    torn = tmp_path / "torn.jsonl"
    lines = outputs["codeclm"].read_text().splitlines()
    torn.write_text(lines[0] + "\n" + lines[1][:50])  # a run killed mid-write
    before = torn.read_bytes()
    assert main(["view", str(torn), *html]) == 2
    assert "torn.jsonl:2: not a JSON line" in one_line_error(capsys)
    assert torn.read_bytes() == before  # the viewer reads; it never repairs or writes

    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(json.dumps({"instruction": "hi", "output": "hello"}) + "\n")
    assert main(["view", str(foreign), *html]) == 2
    assert "foreign.jsonl:1: not a codeclm record" in one_line_error(capsys)

    good = tmp_path / "good.jsonl"
    good.write_text(outputs["codeclm"].read_text())
    (tmp_path / "good.dropped.jsonl").write_text(lines[0] + "\n")
    assert main(["view", str(good), *html]) == 2
    assert "good.dropped.jsonl:1: not a codeclm dropped item" in one_line_error(capsys)  # a record is no dropped item

    assert main(["view", str(outputs["codeclm"]), "--benchmark", str(foreign), *html]) == 2
    assert "foreign.jsonl:1: no use_case and skills" in one_line_error(capsys)
    assert not (tmp_path / "v.html").exists()


def test_html_is_one_file_with_nothing_from_elsewhere(tmp_path, outputs, capsys):
    out = tmp_path / "view.html"
    assert main(["view", str(outputs["codeclm"]), str(outputs["strict"]), "--html", str(out)]) == 0
    html = out.read_text()
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    assert "http://" not in html and "https://" not in html  # no CDN, no font, no beacon
    first = json.loads(outputs["codeclm"].read_text().splitlines()[0])
    assert first["strong_response"][:60] in html.replace("\\n", "\n")  # the stories are inside


def test_an_occupied_port_is_replaced_by_a_free_one_and_named(outputs, tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "codeclm.cli", "view", str(outputs["codeclm"]), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stderr.readline()
        assert f"(port {port} is in use)" in line and "http://127.0.0.1:" in line
        url = line.split()[2]
        assert not url.endswith(f":{port}/")
        for _ in range(50):
            try:
                page = urllib.request.urlopen(url, timeout=5).read().decode()
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        assert "<title>codeclm view</title>" in page
        data = json.loads(urllib.request.urlopen(url + "api/data", timeout=5).read())
        assert len(data["table"]["id"]) == 4
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        busy.close()


def test_the_server_answers_loopback_names_only(outputs):
    runs = open_runs([str(outputs["codeclm"])])
    server = make_server(runs, payload(runs), 0)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert server.server_address[0] == "127.0.0.1"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/data", headers={"Host": f"attacker.example:{port}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 403
        found = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/story?run=0&item=1", timeout=5).read())
        assert found["row"] == json.loads(outputs["codeclm"].read_text().splitlines()[1])
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/story?run=0&item=99", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_story_shades_the_tokens_the_verdict_counted(outputs):
    runs = open_runs([str(outputs["codeclm"]), str(outputs["strict"])])
    for item, record in enumerate(json.loads(line) for line in outputs["codeclm"].read_text().splitlines()):
        told = story(runs, 0, item)
        assert "".join(t["text"] for t in told["tokens"]) == record["strong_response"]
        counted = [t["loss"] for t in told["tokens"] if t["counted"]]
        assert 0 < len(counted) < len(told["tokens"])  # restated words and punctuation do not count
        assert abs(sum(counted) / len(counted) - record["gap"]) < 0.05 + 1e-9  # the gap is their mean (to a tenth of a nat)
        assert told["seed"]["text"] and told["others"] == [{"run": 1, "item": _index(runs[1], record["id"])}]


def _index(run, item_id):
    return next(i for i, row in enumerate(run.light) if row["id"] == item_id)


def test_coverage_counts_output_and_seed_metadata(outputs, tmp_path):
    strict = open_runs([str(outputs["strict"])])[0]
    cov = {(u, s): (o, sd) for u, s, o, sd, _ in coverage(strict)["pairs"]}
    for row in strict.light[:strict.kept]:
        for skill in row["metadata"]["skills"]:
            assert cov[(row["metadata"]["use_case"].lower(), skill)][0] >= 1
    for row in strict.light[strict.kept:]:  # encoded from a seed, dropped: in the seeds' metadata, not in the output
        for skill in row["metadata"]["skills"]:
            assert cov[(row["metadata"]["use_case"].lower(), skill)] == (0, 1)
    html = write_html([strict], tmp_path / "v.html", benchmark=str(outputs["codeclm"]))
    assert '"benchmark":"codeclm.jsonl"' in html.read_text()
