"""The labelled check set is what docs/filter_labels.md says: 200+ items the pipeline made, two blind passes and an
adjudicated label with a reason per item, split by metadata, frozen by hash before any signal was computed.
Runs against: no model and no server (the committed files).
"""

import hashlib
import json
from collections import Counter

from codeclm.check.labelled import BUNDLED_SHA256, bundled_labelled_path, load_labelled


def test_the_bundled_labels_are_the_frozen_ones(root):
    data = bundled_labelled_path().read_bytes()
    frozen = (root / "benchmarks" / "filter_set" / "FROZEN").read_text().split()[0]
    assert hashlib.sha256(data).hexdigest() == frozen == BUNDLED_SHA256
    assert data == (root / "benchmarks" / "filter_set" / "labels.jsonl").read_bytes()


def test_every_item_has_both_passes_a_reason_and_a_split_by_metadata():
    rows = [json.loads(line) for line in bundled_labelled_path().read_text().splitlines()]
    assert len(rows) >= 200 and len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["label"] in ("invalid", "bad_answer", "keep", "send_back") and r["reason"].strip()
        assert r["pass1"]["reason"].strip() and r["pass2"]["reason"].strip()
        assert r["decided"] == ("agreed" if r["pass1"]["label"] == r["pass2"]["label"] else "adjudicated")
        assert r["strong"]["text"] is not None and r["target"]["text"] is not None
    splits = {}
    for r in rows:
        splits.setdefault(r["metadata_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits.values())  # one metadata, one side
    check = Counter(r["label"] for r in rows if r["split"] == "check")
    assert check["keep"] >= 8 and check["send_back"] >= 8 and check["keep"] + check["send_back"] >= 24


def test_loading_refuses_a_changed_bundled_file(tmp_path, monkeypatch):
    import pytest

    from codeclm.check import labelled
    from codeclm.check.cases import CheckSetError

    changed = tmp_path / "labelled.jsonl"
    changed.write_bytes(bundled_labelled_path().read_bytes().replace(b'"send_back"', b'"keep"', 1))
    monkeypatch.setattr(labelled, "bundled_labelled_path", lambda: changed)
    with pytest.raises(CheckSetError, match="changed after they were frozen"):
        load_labelled()
    assert len(load_labelled(changed, split=None)) >= 200  # a user's own file of the same shape loads
