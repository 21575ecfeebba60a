"""The filter check grades the run's own decision: the same instruction and answers reach the same decision in
`codeclm run` (CodecLM.evolve) and in the check (run_check). Fakes: ScriptedLM strong and target with a scripted
target-loss scorer. Break `evolve` or the check so that one bypasses `outcome` (e.g. skip the instruction guard
in the run, or compare gap >= theta in the check) and this test fails.
Runs against: fake LMs (tests/fakes.py ScriptedLM with a scripted target-loss scorer), no server.
"""

import pytest
from fakes import ScriptedLM, field_value, word_scores

from codeclm.models.config import load_config
from codeclm.steps.guards import check
from codeclm.check.grading import Case, run_check
from codeclm.programs.codeclm import CodecLM, TooEasy, instruction_item, metadata_item
from codeclm.output.records import Dropped, Record
from codeclm.steps.signatures import Metadata
from codeclm.steps.guards import Answer

ANSWERS = {  # instruction -> (strong answer, target loss per token, label)
    "Explain why the sky is blue.": ("Sunlight scatters off air molecules; blue light scatters most.", 2.0, "keep"),
    "Name the capital of France.": ("Paris is the capital of France.", 0.2, "send_back"),
    "Summarize the following article in two sentences.": ("The article says things.", 2.0, "invalid"),
    "Review the latest thriller film you saw.": ("A gripping film.", 2.0, "invalid"),
    "Describe a sunset over the sea.": ("I'm sorry, but as an AI language model I cannot see sunsets.", 2.0, "bad_answer"),
    "List three prime numbers.": ("2, 3 and 5 are prime numbers.", 1.0, "send_back"),  # gap == theta: too easy
}


def strong_script(step, messages):
    return {"response": ANSWERS[field_value(messages, "instruction")][0]}


def scorer():
    def logprob(text, token):
        return -next(loss for instruction, (_, loss, _) in ANSWERS.items() if instruction in text)

    return word_scores(logprob)


@pytest.fixture
def program(root):
    config = load_config(root / "programs" / "codeclm.yaml", ["theta=1.0", "max_iterations=2", "judging.check.enabled=false",
                                                              "cache.enabled=false"])
    return CodecLM(config, {"strong": ScriptedLM(strong_script), "target": ScriptedLM(lambda s, m: "", scorer=scorer())})


def run_decision(program, instruction: str) -> str:
    item = instruction_item(metadata_item(Metadata(use_case="facts", skills=["recall"]), "test"), instruction)
    result = program.evolve(item)
    if isinstance(result, Record):
        return "keep"
    if isinstance(result, TooEasy):
        return "send_back"
    assert isinstance(result, Dropped)
    return "drop" if result.stage == "guard" else "send_back"


def test_the_check_and_the_run_decide_alike(program):
    cases = [Case(id=f"c{n}", family="t", instruction=i, strong=Answer(text=a, finish_reason="stop", guard=check(a, "stop")),
                  label=label) for n, (i, (a, _, label)) in enumerate(ANSWERS.items())]
    report = run_check(program.contrastive_filter, cases, theta=program.config.theta, min_accuracy=0.5)
    in_check = {c.instruction: r.decided for c, r in zip(cases, report.results)}
    in_run = {i: run_decision(program, i) for i in ANSWERS}
    assert in_check == in_run
    assert in_run == {"Explain why the sky is blue.": "keep", "Name the capital of France.": "send_back",
                      "Summarize the following article in two sentences.": "drop", "Review the latest thriller film you saw.": "drop",
                      "Describe a sunset over the sea.": "drop", "List three prime numbers.": "send_back"}
    assert all(r.correct for r in report.results)
