"""Tuned programs: saved prompts load back only into a program they fit; records made with one carry its hash.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""


import pytest
from fakes import ScriptedLM
from pipeline_scripts import strong_script

from codeclm import CodecLM, load_config
from codeclm.programs.tuned import TunedProgramError, load_tuned, save_tuned

SEEDS = ["Write a Python function that checks for palindromes."]


def program(root, *overrides):
    config = load_config(root / "programs" / "codeclm.yaml",
                         ["judging.scheme=pairwise-1-10", "judging.check.enabled=false", "num_metadata=1",
                          "instructions_per_metadata=1", "max_iterations=1", *overrides])
    return CodecLM(config, {"strong": (lm := ScriptedLM(strong_script())), "target": ScriptedLM(lambda s, m: {"response": "t"})}), lm


def test_a_tuned_file_changes_requests_and_records_carry_its_hash(root, tmp_path):
    tuned, _ = program(root)
    tuned.encode.predict.signature = tuned.encode.predict.signature.with_instructions("TUNED encode text")
    path = save_tuned(tuned, tmp_path / "p.tuned.json")
    fresh, lm = program(root)
    digest = load_tuned(fresh, path)
    out = fresh(seeds=SEEDS)
    assert "TUNED encode text" in lm.calls[0][1][0]["content"]
    assert out.records and all(r.tuned == digest and len(digest) == 64 for r in out.records)


def test_a_file_tuned_for_another_scheme_is_refused_naming_the_step(root, tmp_path):
    tuned, _ = program(root, "judging.scheme=logprob-pairwise")
    path = save_tuned(tuned, tmp_path / "p.tuned.json")
    other, _ = program(root)  # pairwise-1-10: the judge step has other fields
    with pytest.raises(TunedProgramError, match=r"step 'contrastive_filter\.judge\.predict' has other fields"):
        load_tuned(other, path)


def test_a_plain_dspy_save_of_another_scheme_is_refused_too(root, tmp_path):
    tuned, _ = program(root, "judging.scheme=pointwise-logprob")
    tuned.save(str(tmp_path / "plain.json"))  # DSPy's own save: no codeclm header
    other, _ = program(root)
    with pytest.raises(TunedProgramError, match=r"step 'contrastive_filter\.judge\.predict' has other fields"):
        load_tuned(other, tmp_path / "plain.json")


@pytest.mark.parametrize("content, message", [
    (None, r"nope\.json: tuned program not readable"),
    ("{not json", r"bad\.json: not a tuned program \(invalid JSON"),
    ("[1, 2]", r"bad\.json: not a tuned program \(expected a JSON object\)"),
    ('{"encode.predict": {}}', r"bad\.json: step 'encode\.predict' is missing"),
])
def test_bad_tuned_files_are_one_line(root, tmp_path, content, message):
    path = tmp_path / ("nope.json" if content is None else "bad.json")
    if content is not None:
        path.write_text(content)
    target, _ = program(root)
    with pytest.raises(TunedProgramError, match=message):
        load_tuned(target, path)
