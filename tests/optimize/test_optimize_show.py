"""`codeclm show PATH.tuned.json`: effective instructions and demos per step, a diff against the templates.

Runs against: the scripted optimize world in process (tests/optimize/optimize_world.py WorldLM: a fake, not real models).
"""

import json

from optimize_world import world_lms

from codeclm import CodecLM
from codeclm.cli import main
from codeclm.optimize import optimize
from codeclm.programs.tuned import save_tuned


def test_show_prints_each_step_and_a_diff_against_its_template(world_config, benchmark_file, tmp_path, capsys):
    out = tmp_path / "world.tuned.json"
    optimize(world_config(), benchmark=str(benchmark_file), out=out, lms=world_lms())
    capsys.readouterr()
    assert main(["show", str(out)]) == 0  # the program comes from the file's header
    text = capsys.readouterr().out
    assert "steps changed from their templates: decode.predict" in text
    assert "held-out metric" in text and "made by codeclm optimize: decode with bootstrap on bench" in text
    decode = text.split("== decode.predict")[1].split("\n== ")[0]
    assert "changed; 2 demos (1 bootstrapped)" in decode
    assert "+  1. (bootstrapped)" in decode and "+     use_case: python programming" in decode
    assert "-demos (1):" in decode and "+demos (2):" in decode
    encode = text.split("== encode.predict")[1].split("\n== ")[0]
    assert "as the template" in encode and "(no difference)" in encode and "instructions:\n  You are an expert" in encode

    assert main(["show", str(out), "decode"]) == 0  # one step only
    only = capsys.readouterr().out
    assert "== decode.predict" in only and "== encode.predict" not in only


def test_show_of_a_file_without_its_program_asks_for_one(world_config, tmp_path, capsys, root):
    plain = save_tuned(CodecLM(world_config(), world_lms()), tmp_path / "plain.tuned.json")
    assert main(["show", str(plain)]) == 2
    assert " ".join(capsys.readouterr().err.split()) == (
        f"error: {plain}: cannot tell which program it was tuned for; pass --program PROGRAM.yaml")
    assert main(["show", str(plain), "--program", str(root / "programs" / "codeclm.yaml")]) == 0
    assert "steps changed from their templates: none" in capsys.readouterr().out


def test_show_refuses_a_file_that_does_not_fit_the_program(world_config, tmp_path, capsys, root):
    tuned = save_tuned(CodecLM(world_config("judging.scheme=pointwise-logprob"), world_lms()), tmp_path / "p.tuned.json")
    state = json.loads(tuned.read_text())
    assert main(["show", str(tuned), "--program", str(root / "programs" / "codeclm.yaml")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "step 'contrastive_filter.judge.predict' is not in this program" in err and state["codeclm"]["judging_scheme"] == "pointwise-logprob"
