"""benchmarks/decode_validity: the fresh instructions and both blind readings are the frozen files, and the figures
docs/judging.md quotes (agreement, invalid share per template, what the guards catch) follow from them and from the
guards in this tree: change a guard and this names the figure to measure again.
Runs against: no model and no server (the committed decoded instructions, sheet, key and readings).
"""

import hashlib
import json
import subprocess
import sys


def run(root, tmp_path, *args):
    script = root / "benchmarks" / "decode_validity" / "decode_validity.py"
    save = tmp_path / "out.json"
    subprocess.run([sys.executable, str(script), *args, "--save", str(save)], check=True, capture_output=True, text=True,
                   cwd=script.parent)
    return json.loads(save.read_text())


def test_the_read_files_are_the_frozen_ones(root):
    here = root / "benchmarks" / "decode_validity"
    for line in (here / "FROZEN").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, f"{name} changed after it was frozen"


def test_agreement_and_invalid_share_per_template_follow_from_the_readings(root, tmp_path):
    got = run(root, tmp_path, "score", "--passes", "reading/pass1.jsonl", "reading/pass2.jsonl", "--adjudicated", "reading/adjudicated.jsonl")
    assert (got["n"], got["agreement"], got["kappa"]) == (136, 132, 0.937)
    assert {v: (r["invalid"], r["n"]) for v, r in got["variants"].items()} == {"A": (42, 65), "B": (42, 71)}
    assert got["difference"]["bootstrap95_over_metadata"][0] < 0 < got["difference"]["bootstrap95_over_metadata"][1]  # no difference shown


def test_what_the_guards_catch_on_the_fresh_instructions_is_what_the_docs_say(root, tmp_path):
    got = run(root, tmp_path, "guards", "--first", "reading/pass1.jsonl", "--adjudicated", "reading/adjudicated.jsonl",
              "--old", "guards_463b5b6.py")["rules"]
    figures = {name: (r["invalid_caught"][:2], r["valid_dropped"][:2]) for name, r in got.items()}
    assert figures["guards (before)"] == ([21, 84], [3, 52])
    assert figures["guards (this commit)"] == ([39, 84], [3, 52]), (
        "the instruction guards changed: rerun `decode_validity.py guards` and update docs/judging.md and README")
