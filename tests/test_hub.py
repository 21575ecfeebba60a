"""`codeclm push` against a stand-in for the Hub's HTTP API on 127.0.0.1 (tests/hub_stub.py; HF_ENDPOINT points
there), through huggingface_hub's real HfApi: what lands in the repo, the card, visibility, and one-line errors.

Runs against: no model; a stub of the Hub's HTTP API (tests/hub_stub.py on 127.0.0.1) and hand-written run outputs.
"""

import json

import pytest
import yaml

from codeclm.cli import main
from hub_stub import HubStub
from test_card import write_run

pytest.importorskip("huggingface_hub")
TOKEN = "hf_TestTokenThatMustNotLeak123"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with HubStub(TOKEN) as stub:
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield stub


def test_push_uploads_kept_pairs_card_and_manifest_privately(hub, tmp_path, capsys):
    data = write_run(tmp_path)
    assert main(["push", str(data), "me/codeclm-data", "--dropped"]) == 0
    repo = hub.repos["me/codeclm-data"]
    assert repo["private"] is True  # private by default
    files = repo["files"]
    kept = [json.loads(line) for line in files["data/train.jsonl"].decode().splitlines()]
    assert [r["id"] for r in kept] == [r["id"] for r in map(json.loads, data.read_text().splitlines())]
    dropped = [json.loads(line) for line in files["dropped/train.jsonl"].decode().splitlines()]
    assert [d["reason"] for d in dropped] == ["strong answer cut off"]
    card = files["README.md"].decode()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train.jsonl"}]},
                               {"config_name": "dropped", "data_files": [{"split": "train", "path": "dropped/train.jsonl"}]}]
    assert "49/60 right at theta 1" in card and "n = 60" in card and "70%-89%" in card
    manifest = json.loads(files["codeclm/manifest.json"])
    assert manifest["output"] == "codeclm.jsonl" and str(tmp_path) not in files["codeclm/manifest.json"].decode()
    # The token went out as the bearer header only: never into a file, a log line or the output.
    out = capsys.readouterr()
    assert all(TOKEN not in blob.decode() for blob in files.values())
    assert TOKEN not in out.out + out.err and "me/codeclm-data" in out.err
    posted = [h for m, p, h in hub.requests if m == "POST"]
    assert posted and all(h.get("authorization") == f"Bearer {TOKEN}" for h in posted)


def test_public_and_without_dropped(hub, tmp_path):
    data = write_run(tmp_path)
    assert main(["push", str(data), "me/open-data", "--public"]) == 0
    repo = hub.repos["me/open-data"]
    assert repo["private"] is False and set(repo["files"]) == {"data/train.jsonl", "README.md", "codeclm/manifest.json"}
    assert "config_name: dropped" not in repo["files"]["README.md"].decode()


def test_an_existing_public_repo_is_not_pushed_to_privately(hub, tmp_path, capsys):
    data = write_run(tmp_path)
    hub.repos["me/open-data"] = {"private": False, "files": {}}
    assert main(["push", str(data), "me/open-data"]) == 2
    assert "exists and is public; pass --public" in capsys.readouterr().err
    assert hub.repos["me/open-data"]["files"] == {}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error:"), err
    assert TOKEN not in err
    return err


def test_no_token(hub, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    assert main(["push", str(write_run(tmp_path)), "me/x"]) == 2
    assert "HF_TOKEN is not set" in one_line_error(capsys) and not hub.requests


def test_a_refused_token(hub, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    assert main(["push", str(write_run(tmp_path)), "me/x"]) == 2
    assert "HF_TOKEN was refused (401)" in one_line_error(capsys)


def test_no_network(hub, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert main(["push", str(write_run(tmp_path)), "me/x"]) == 2
    assert "cannot reach the Hugging Face Hub" in one_line_error(capsys)


def test_a_repo_that_is_not_yours(hub, tmp_path, capsys):
    hub.repos["someone/data"] = {"private": True, "files": {}}  # invisible to us: create is refused
    assert main(["push", str(write_run(tmp_path)), "someone/data"]) == 2
    assert "someone/data: not yours" in one_line_error(capsys)
    hub.repos["someone/open"] = {"private": False, "files": {}}  # visible, but not writable: the commit is refused
    assert main(["push", str(write_run(tmp_path)), "someone/open", "--public"]) == 2
    assert "someone/open: not yours" in one_line_error(capsys) and hub.repos["someone/open"]["files"] == {}


def test_data_without_its_manifest(hub, tmp_path, capsys):
    data = tmp_path / "plain.jsonl"
    data.write_text('{"instruction": "a", "response": "b"}\n')
    assert main(["push", str(data), "me/x"]) == 2
    assert "plain.manifest.json: not found" in one_line_error(capsys) and not hub.requests
