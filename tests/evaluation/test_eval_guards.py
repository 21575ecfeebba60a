"""Eval's answer guards on fake LMs (tests/fakes.py ScriptedLM, which reports finish_reason as a server does):
an answer that is cut off, a refusal or a loop is never judged; its item is a failed loss. (An empty reply never
gets that far: Respond asks again and then fails the item as unparseable, tested in test_eval_harness.py.)

Break that this catches: the guard branch in codeclm/evaluation/harness.py disabled
(`if not answer.usable:` -> `if False:`): every test here goes red (the judge is asked, the item is a win).
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import pytest
from eval_helpers import fakes, run_eval, write_bench
from fakes import Cut, ScriptedLM, field_value

LOOP = "\n".join(["the same line of text again"] * 6)
BAD = {  # guard -> a reply that fails it
    "cut_off": Cut({"response": "candidate: a long answer that goes on and"}),
    "refusal": {"response": "I'm sorry, I can't help with that."},
    "repetition": {"response": LOOP},
}


def answering(name, bad_on: str, reply):
    """Answers `name: <instruction>` except on `bad_on`, where it gives `reply` (every attempt)."""
    def script(step, messages):
        instruction = field_value(messages, "instruction")
        return reply if instruction == bad_on else {"response": f"{name}: {instruction}"}

    return ScriptedLM(script, model=f"fake/{name}")


@pytest.mark.parametrize("guard", list(BAD))
def test_a_candidate_answer_that_fails_its_guard_is_a_failed_loss_never_judged(root, tmp_path, guard):
    lms = fakes()
    lms["candidate"] = answering("candidate", "win both", BAD[guard])  # an item the candidate would otherwise win
    report = run_eval(root, write_bench(tmp_path), tmp_path, "paper", lms)
    item = next(i for i in report.items if i.instruction == "win both")
    assert item.failed == "candidate" and item.outcome == "loss" and item.verdict is None
    assert item.error == f"candidate answer {guard.replace('_', ' ')}" and item.guards["candidate"] == guard
    assert report.failures == {"candidate": 1} and report.overall.failed == 1 and report.overall.wins == 0
    judged = [field_value(m, "instruction") for step, m, _ in lms["judge"].calls]
    assert "win both" not in judged and len(judged) == 2 * 4  # the other four items, both orders


def test_a_reference_answer_cut_off_twice_is_a_failed_loss(root, tmp_path):
    """The reference is asked again with twice the cap when cut; cut again, the item cannot be judged."""
    lms = fakes()
    lms["reference"] = answering("reference", "lose both", BAD["cut_off"])
    report = run_eval(root, write_bench(tmp_path), tmp_path, "paper", lms)
    item = next(i for i in report.items if i.instruction == "lose both")
    assert item.failed == "reference" and item.error == "reference answer cut off" and item.outcome == "loss"
    asked = [kw.get("max_tokens") for step, m, kw in lms["reference"].calls if field_value(m, "instruction") == "lose both"]
    assert len(asked) == 2 and asked[1] == 2 * asked[0]
    assert report.failures == {"reference": 1}
