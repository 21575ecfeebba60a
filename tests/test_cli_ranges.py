"""Every numeric command-line option is range-checked before any work: one line naming the option and the allowed
range, exit 2. Plain argument parsing (no model, no fake): the command functions are replaced by ones that fail
the test if reached. Also: wide tables stay readable when the output is not a terminal.
Runs against: argument parsing only (no model); fake LMs for evaluate().
"""

import io

import pytest
from rich.console import Console

import codeclm.cli as cli
from codeclm.cli import main

PROGRAM = "programs/codeclm.yaml"
COMMANDS = {  # command -> the arguments it needs besides the one under test
    "run": ["run", PROGRAM],
    "eval": ["eval", "--benchmark", "vicuna", "--candidate", "target"],
    "report": ["report", "data.jsonl"],
    "optimize": ["optimize", PROGRAM],
    "view": ["view", "data.jsonl"],
    "plan": ["plan", PROGRAM],
}
CASES = [  # command, option, bad value, allowed range as printed
    ("run", "--poll-seconds", "0", "a number > 0"),
    ("run", "--poll-seconds", "-1", "a number > 0"),
    ("run", "--poll-seconds", "nan", "a number > 0"),
    ("run", "--records", "0", "a whole number >= 1"),
    ("plan", "--records", "-1", "a whole number >= 1"),
    ("plan", "--pilot", "0", "a whole number >= 1"),
    ("eval", "--bootstrap", "0", "a whole number >= 100"),
    ("eval", "--bootstrap", "-5", "a whole number >= 100"),
    ("eval", "--limit", "0", "a whole number >= 1"),
    ("eval", "--limit", "-3", "a whole number >= 1"),
    ("eval", "--limit", "2.5", "a whole number >= 1"),
    ("eval", "--seed", "-1", "a whole number >= 0"),
    ("report", "--sample", "-1", "a whole number >= 2"),
    ("report", "--sample", "1", "a whole number >= 2"),
    ("report", "--seed", "-2", "a whole number >= 0"),
    ("optimize", "--split", "0", "a number > 0 and < 1"),
    ("optimize", "--split", "1.5", "a number > 0 and < 1"),
    ("optimize", "--train", "0", "a whole number >= 1"),
    ("optimize", "--heldout", "-1", "a whole number >= 1"),
    ("optimize", "--demos", "-1", "a whole number >= 0"),
    ("optimize", "--max-metric-calls", "0", "a whole number >= 1"),
    ("view", "--port", "0", "a whole number >= 1 and <= 65535"),
    ("view", "--port", "65536", "a whole number >= 1 and <= 65535"),
]


@pytest.fixture(autouse=True)
def no_command_runs(monkeypatch):
    """Reaching a command means the bad value got through (and a real one would start models or pay for calls)."""
    for name in ("_cmd_run", "_cmd_eval", "_cmd_report", "_cmd_optimize", "_cmd_view"):
        monkeypatch.setattr(cli, name, lambda args, name=name: pytest.fail(f"{name} ran with a bad value"))
    import codeclm.plan

    monkeypatch.setattr(codeclm.plan, "_cmd_plan", lambda args: pytest.fail("_cmd_plan ran with a bad value"))


@pytest.mark.parametrize("command, option, value, allowed", CASES)
def test_a_numeric_option_out_of_range_is_one_line_exit_2(command, option, value, allowed, capsys):
    assert main([*COMMANDS[command], f"{option}={value}"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: codeclm {command}: argument {option}: ") and f"allowed: {allowed}" in lines[0]
    assert value in lines[0]


def test_every_numeric_option_of_the_cli_is_covered():
    """A new int/float option without a range check (or without a case above) fails here."""
    checked = {(command, option) for command, option, _, _ in CASES}
    parser = cli.build_parser()
    found = set()
    for action in parser._subparsers._group_actions[0].choices.items():  # noqa: SLF001 - argparse keeps them there
        name, sub = action
        for a in sub._actions:  # noqa: SLF001
            if a.type in (int, float):
                pytest.fail(f"codeclm {name} {a.option_strings[0]}: type={a.type.__name__} has no range check")
            if getattr(a.type, "__name__", "") in ("int_range", "float_range"):
                found.add((name, a.option_strings[0]))
    assert found == checked


def test_values_in_range_reach_the_command(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "_cmd_eval", lambda args: seen.update(vars(args)) or 0)
    assert main([*COMMANDS["eval"], "--limit", "1", "--bootstrap", "100", "--seed", "0"]) == 0
    assert (seen["limit"], seen["bootstrap"], seen["seed"]) == (1, 100, 0)


def test_evaluate_refuses_a_bad_limit_or_bootstrap_before_any_call(root, tmp_path):
    from evaluation.eval_helpers import fakes

    from codeclm.errors import ConfigError
    from codeclm.evaluation import evaluate

    lms = fakes()
    for options, message in (({"limit": 0}, "limit 0: out of range"), ({"bootstrap": 0}, "bootstrap 0: out of range")):
        with pytest.raises(ConfigError, match=message):
            evaluate("vicuna", "target", program=root / "programs" / "codeclm.yaml", out=tmp_path / "e.jsonl", lms=lms,
                     **options)
    assert all(not lm.calls for lm in lms.values()) and not (tmp_path / "e.jsonl").exists()


def test_a_wide_table_is_one_line_per_cell_when_not_on_a_terminal():
    """`judge check`'s 8-column table in a pipe or log: no cell is wrapped over several lines."""
    from codeclm.check.grading import CheckReport
    from codeclm.check.display import table
    from codeclm.console.tables import print_table

    report = CheckReport(scheme="target-loss", judge_model="openai/smollm2-135m-instruct", target_model="smollm2-135m-instruct",
                         theta=1.0, min_accuracy=0.6, items=60, correct=50, failed=0, accuracy=0.83, ci_low=0.72, ci_high=0.91,
                         sign_accuracy=0.8, by_decision={"keep": "25/30", "send_back": "25/30"}, by_family={},
                         guards={"invalid": "12/12 dropped", "bad_answer": "9/10 dropped"},
                         baseline={"rule": "longer strong answer", "check_accuracy": 0.7, "difference_ci": [0.03, 0.2]},
                         seconds_per_item=1.25, passed=True, status="passed", verdict="passed")
    out = io.StringIO()
    print_table(Console(file=out, width=80, force_terminal=False), table([report]))
    lines = out.getvalue().splitlines()
    assert "  accuracy (95% CI): 83% (72%-91%)" in lines and "  scheme: target-loss (openai/smollm2-135m-instruct)" in lines
    assert "  right at theta: 50/60 (theta 1)" in lines and "  result: pass" in lines
    assert "  best trivial rule (difference 95% CI): longer strong answer: 70% (+3% to +20%)" in lines
    assert "  guards: invalid 12/12 dropped, bad_answer 9/10 dropped" in lines
    wide = io.StringIO()
    print_table(Console(file=wide, width=200, force_terminal=True), table([report]))
    assert "┃ scheme" in wide.getvalue() or "scheme " in wide.getvalue().splitlines()[2]  # the drawn table on a terminal
