"""Guards: instructions that cannot be answered as given (missing material, the assistant's own situation, not a
request) are caught before answering; cut-off, empty, refusing, looping and input-asking answers before any judging;
a cut-off strong answer is asked again once with twice the cap and is never kept while cut.
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import pytest
from fakes import Cut, ScriptedLM

from codeclm.steps.guards import check, check_instruction
from codeclm.steps.respond import Respond
from codeclm.prompting.templates import PromptLibrary


@pytest.mark.parametrize("text, finish, guard", [
    ("A fine answer about TCP.", "stop", "ok"),
    ("A fine answer that ran out of roo", "length", "cut_off"),
    ("   ", "stop", "empty"),
    ("I'm sorry, but I can't help with that request.", "stop", "refusal"),
    ("As an AI, I cannot browse the web.", "stop", "refusal"),
    ("Sorry for the wait! TCP slow start begins with a congestion window of one or a few segments and doubles it "
     "every round trip until it reaches the slow start threshold or sees loss. After that the sender grows the window "
     "linearly, which is called congestion avoidance. When a timeout happens, the threshold is set to half of the "
     "current window and the window goes back to its initial size, so the connection probes the network again.", "stop", "ok"),
    ("the cat sat on the mat " * 30, "stop", "repetition"),
    ("Step one.\n" + "Add the flour and stir well.\n" * 5, "stop", "repetition"),
    ("Sure! Could you please provide the paragraph you would like me to summarize?", "stop", "asks_for_input"),
    ("I'd need more details about your project to write this. In general, a status update has three parts ...", "stop", "asks_for_input"),
    ("Here is the summary. Please share it with your team if it helps.", "stop", "ok"),  # past the opening: not a request for input
    (" ".join(f"Step {n}: stir the sauce for {n} minutes." for n in range(40)) + " Please provide the salt.", "stop", "ok"),
])
def test_guards(text, finish, guard):
    assert check(text, finish) == guard


HANOI = ("Design a recursive algorithm to solve the Tower of Hanoi problem with at least 10 discs, with a time complexity "
         "limit of 2^10 seconds. Implement input validation for all user inputs.")
STORE = ("Design a data structure that can efficiently store and retrieve information from a large list of items, ensuring "
         "quick access times even when the list size increases dramatically.")


@pytest.mark.parametrize("instruction, text, guard", [  # the first two: real strong answers kept on 2026-12-07
    (HANOI, "Design a recursive algorithm to solve the Tower of Hanoi problem with at least 10 discs and a time complexity "
            "limit of 2^10 seconds. Implement input validation for all user inputs.", "echo"),
    (STORE, "Use a hash table.", "too_short"),
    (STORE, "Use a hash table: O(1) average lookups, and resize it when the load factor passes 0.75.", "ok"),
    ("What is the sum of the first ten natural numbers?", "The sum of the first ten natural numbers is 55.", "ok"),
    ("Categorize these emails as spam, promotional or personal: 'WIN A PRIZE NOW'.", "Spam", "ok"),  # a label, not an echo
    ("Describe the colour of a clear daytime sky in one word.", "Blue.", "ok"),  # asked for brevity
    ("Write a function that sums a list in Python.", "```python\nsum(xs)\n```", "ok"),  # code is not terse
])
def test_answer_guards_that_read_the_instruction(instruction, text, guard):
    assert check(text, "stop", instruction) == guard
    assert check(text, "stop") in ("ok", guard if guard not in ("echo", "too_short") else "ok")  # without it: not judged


@pytest.mark.parametrize("instruction, guard", [
    # requests: answerable as given
    ("Explain TCP.", "ok"),
    ("Why do airplanes fly?", "ok"),
    ("Say hi about sql in three words.", "ok"),
    ("Plan a three-day trip to Lisbon for two students with a budget of 400 euros.", "ok"),
    ("Given a list of integers, write a Python function that returns the second largest.", "ok"),
    ("I need a short poem about autumn rain for my class.", "ok"),
    ("Summarize this update in one sentence: \"The checkout redesign shipped on May 2 and conversion rose to 3.6%.\"", "ok"),
    ("Create a Python script that reads your website's keywords from user input and prints SEO meta tags.", "ok"),
    # not a request: fragments, statements, prompts back to the user, monologues
    ("new game analysis", "not_a_request"),
    ("The Internet could have been a versatile platform for learning and collaboration.", "not_a_request"),
    ("I am so happy to have completed this project! I want to share my experience with others.", "ok"),  # "I want": a request
    ("Coding can be challenging, but it is always rewarding.", "not_a_request"),
    ("Please provide the dataset to be analyzed.", "not_a_request"),
    ("To find the capital of France, I will first search online.", "not_a_request"),
    ("Write a Python script that reverses a file. The new instruction is at most 3 sentences longer than the original.",
     "not_a_request"),  # Improve's own wording copied in (real, 2026-12-07)
    ("Explain how a CPU decodes the given instruction set.", "ok"),
    ("Implement a stack in Python to manage a list of tasks using a doubly linked list.\n\n1. Initialize an empty list.\n"
     "2. Define a node class.\n\n```python\nclass Node:\n    pass\n```", "contains_answer"),  # an Improve rewrite (real, 2026-12-07)
    ("Explain what this function returns:\n```python\ndef last_two(xs):\n    return xs[-2:] if len(xs) > 1 else xs\n```", "ok"),  # code to work on
    ("Fix the bug in the code below.\n```js\nlet total = 0; for (let i = 0; i <= xs.length; i++) total += xs[i];\n```", "ok"),
    ("Plan a three-day trip to Rome for two people with a budget of 900 euros, including:\n- museums\n- food", "ok"),
    # the assistant's own situation or experiences
    ("Analyze the environmental impact of your company's products and suggest improvements.", "personal_experience"),
    ("Write a meta description for a product that you're selling on Amazon.", "personal_experience"),
    ("Write a review of the last film you saw.", "personal_experience"),
    # material it points at but does not give
    ("Summarize the following paragraph in one sentence.", "missing_input"),
    ("Revise the paragraph that discusses AI in marketing for clarity.", "missing_input"),
])
def test_instruction_guards(instruction, guard):
    assert check_instruction(instruction) == guard


WHOLE = "TCP gives an ordered, reliable byte stream over IP: a handshake, sequence numbers, acknowledgements, retransmission."


def test_a_cut_off_strong_answer_is_asked_again_with_twice_the_cap(root):
    lm = ScriptedLM(lambda s, m: Cut({"response": "half an ans"}) if len(lm.calls) == 1 else {"response": WHOLE})
    respond = Respond(PromptLibrary(root / "prompts").render("respond"), lm, role="strong", ask_again_when_cut=True, max_tokens=100)
    answer = respond(instruction="Explain TCP.", key="k")
    assert answer.usable and answer.text == WHOLE and answer.max_tokens == 200
    assert [c[2]["max_tokens"] for c in lm.calls] == [100, 200]


def test_a_strong_answer_still_cut_is_dropped_with_its_reason_and_counted(root, tmp_path):

    from codeclm.models.config import load_config
    from codeclm.run import run
    from codeclm.output.sink import dropped_path

    def strong(step, messages):
        if step == "encode":
            return {"use_case": "networking", "skills": ["protocols"]}
        if step == "decode":
            return {"new_instructions": ["Explain TCP slow start in detail."]}
        return Cut({"response": "TCP slow start begins with a small window and"})

    config = load_config(root / "programs" / "codeclm.yaml", ["num_metadata=1", "instructions_per_metadata=1", "max_iterations=1",
                                                              "judging.check.enabled=false", "cache.enabled=false", "seeds.limit=1"])
    from fakes import word_scores

    summary = run(config, output=str(tmp_path / "out.jsonl"),
                  lms={"strong": ScriptedLM(strong), "target": ScriptedLM(lambda s, m: {"response": "?"}, scorer=word_scores(lambda t, k: -2.0))})
    import json

    dropped = [json.loads(line) for line in dropped_path(tmp_path / "out.jsonl").read_text().splitlines()]
    assert summary["kept"] == 0 and [d["stage"] for d in dropped] == ["guard"]
    assert dropped[0]["reason"].startswith("strong answer cut off at") and "asked again with twice that" in dropped[0]["reason"]
    assert summary["answer_guards"]["strong"] == {"answers": 1, "asked_again_with_more_tokens": 1, "cut_off": 1}


def test_an_answer_counted_under_a_key_is_counted_once():
    """The batch executor replays an item from its start after each batch: cached answers come back."""
    from codeclm.steps.guards import Answer, GuardCounts

    counts = GuardCounts()
    for _ in range(3):
        counts.add("strong", Answer(text="ok"), key=("strong", "m1-i1/1"))
    counts.add("strong", Answer(text="", guard="empty"), key=("strong", "m1-i2/1"))
    assert counts.summary() == {"strong": {"answers": 2, "empty": 1, "ok": 1}}
