"""A small scripted world for `codeclm optimize` tests, the same in process (WorldLM) and on the wire (world_server).

- A benchmark of 12 instructions on four topics (python, sql, poem, trip).
- The strong model encodes an instruction by its topic word; decodes "easy" instructions (the
  target can do them) unless the use case is python, the prompt's instructions carry the TUNED_MARK,
  or a demo shows a hard instruction, then "hard" ones; under instructions carrying the WORSE_MARK it
  decodes easy ones for every use case, python included (worse than the template); answers a hard
  instruction with words the target finds surprising; cuts off (finish_reason "length") any
  answer to an instruction asking for 5000 words.
- An optimizer's own prompts (MIPROv2's and GEPA's proposers) get every output field filled with a
  mark: instruction proposals alternate, WORSE_MARK first, then TUNED_MARK, so every optimizer meets
  candidates that are worse than the template as well as better ones, and must pick the better.
- The target scores text: a HARD word costs 3 nats, any other 0.2 (target-loss: hard answers
  have a gap of about 2, easy ones 0.2, at theta 1).
"""

from __future__ import annotations

import re
import threading

from fakes import Cut, ScriptedLM, chat_answer, field_value, step_from_request, word_scores

TUNED_MARK = "Ask for tasks the weak model still fails"
WORSE_MARK = "Ask for the simplest possible greetings"
PROPOSAL_FIELDS = ("proposed_instruction", "new_instruction")  # MIPROv2's and GEPA's instruction proposals
HARD = {"telescoping", "potential", "lemma", "monotone", "bounds", "argument", "amortised"}
TOPICS = {
    "python": ("python programming", ["recursion", "unit testing"]),
    "sql": ("database queries", ["joins", "aggregation"]),
    "poem": ("poetry writing", ["rhyme", "imagery"]),
    "trip": ("travel planning", ["budgeting", "itinerary design"]),
}
KEYWORD = {use_case: kw for kw, (use_case, _) in TOPICS.items()}

BENCHMARK = [
    {"id": "py1", "instruction": "Write a Python function that checks whether a string is a palindrome."},
    {"id": "py2", "instruction": "Explain Python list comprehensions with two short examples."},
    {"id": "py3", "instruction": "Fix the bug in this Python loop that skips the last element."},
    {"id": "sq1", "instruction": "Write a SQL query that lists customers with more than three orders."},
    {"id": "sq2", "instruction": "Explain the difference between an inner and an outer join in SQL."},
    {"id": "sq3", "instruction": "Rewrite this SQL subquery as a join and explain why it is faster."},
    {"id": "po1", "instruction": "Write a short poem about the sea at night."},
    {"id": "po2", "instruction": "Compose a rhyming poem for a friend's birthday."},
    {"id": "po3", "instruction": "Turn this sentence into a haiku style poem about autumn leaves."},
    {"id": "tr1", "instruction": "Plan a weekend trip to Rome for two on a small budget."},
    {"id": "tr2", "instruction": "Suggest a packing list for a rainy hiking trip in Scotland."},
    {"id": "tr3", "instruction": "Compare train and plane for a trip from Paris to Berlin."},
]

GOOD = "Implement a sql report whose monthly totals stay correct when a join duplicates rows, with a test table."
EASY = "Say hi about sql in three words."
CUT = "Write a 5000-word sql manual covering every join type."
ANSWER_LIKE = "Sure! Here is a sql query: SELECT * FROM orders;"
OFF_TOPIC = "Describe the rules of cricket to a child."


def topic_of(text: str) -> str | None:
    lowered = text.lower()
    return next((kw for kw in TOPICS if kw in lowered), None)


def encode(instruction: str) -> dict:
    """Use case by topic word; skills: the topic's first skill and the instruction's longest word."""
    kw = topic_of(instruction)
    use_case, skills = TOPICS[kw] if kw else ("sports explanation", ["rules knowledge"])
    longest = max(re.findall(r"[a-z]+", instruction.lower()), key=len, default="")
    return {"use_case": use_case, "skills": [skills[0], longest] if longest and longest != skills[0] else skills[:1]}


HARD_INSTRUCTIONS = {
    "python": ["Implement a python cache for recursive calls and state its amortised cost for large inputs.",
               "Prove that a python procedure you design terminates, with a worked example."],
    "sql": ["Design a sql schema for a ledger and state the amortised cost of rebuilding its monthly totals.",
            "Prove that your sql migration keeps every foreign key valid when rows arrive out of order."],
    "poem": ["Write a poem whose stanzas follow a counter, then prove the meter never repeats a line.",
             "Implement a rhyme checker for a poem and explain where it fails on slant rhymes."],
    "trip": ["Plan a trip across five cities and prove the route minimises total travel time.",
             "Implement a budget split for a group trip where each traveller pays in another currency."],
}


def decode(use_case: str, system: str, demos: list[str]) -> dict:
    """`demos`: the demo replies the prompt shows (assistant messages)."""
    kw = KEYWORD.get(use_case.strip().lower(), "general")
    hard_demo = any(h in demo for demo in demos for hs in HARD_INSTRUCTIONS.values() for h in hs)
    if kw in HARD_INSTRUCTIONS and WORSE_MARK not in system and (kw == "python" or TUNED_MARK in system or hard_demo):
        return {"new_instructions": HARD_INSTRUCTIONS[kw]}
    return {"new_instructions": [f"Say hi about {kw} in three words.", f"Name one {kw} word you like today."]}


def respond(instruction: str):
    if "5000-word" in instruction:
        return Cut({"response": "It begins with a long introduction"})
    if any(w in instruction.lower() for w in ("amortised", "prove", "implement")):
        return {"response": "By a telescoping potential argument the lemma gives monotone bounds at every step."}
    return {"response": "Hi there, nice day: here is what you asked, plainly."}  # more than a few words (guards.too_short)


def improve(instruction: str, action: str) -> dict:
    return {"improved_instruction": f"{instruction} Also prove its amortised cost ({action})."}


def proposal(system: str, proposals_so_far: int) -> tuple[str, bool]:
    """Any other prompt (MIPROv2's and GEPA's proposers): every output field says a mark; returns the reply and
    whether it was an instruction proposal. Instruction proposals alternate: WORSE_MARK (even), TUNED_MARK (odd)."""
    outputs = system.split("Your output fields are:", 1)[1].split("All interactions", 1)[0]
    names = re.findall(r"\d+\. `(\w+)`", outputs)
    proposes = any(name in PROPOSAL_FIELDS for name in names)
    if proposes and proposals_so_far % 2 == 0:
        text = f"{WORSE_MARK}: write one short greeting for the use case."
    else:
        text = f"{TUNED_MARK}: write instructions for the use case that need its skills in depth."
    return chat_answer({name: text for name in names}), proposes


class Proposals:
    """Counts instruction proposals (thread-safe), so the world alternates worse and better ones."""

    def __init__(self) -> None:
        self.count, self.sent, self._lock = 0, [], threading.Lock()

    def reply(self, system: str) -> str:
        with self._lock:
            text, proposes = proposal(system, self.count)
            if proposes:
                self.count += 1
                self.sent.append(text)
            return text


def answer(step: str, messages: list[dict]):
    """The strong model's reply to one request of `step`."""
    if step == "encode":
        return encode(field_value(messages, "instruction"))
    if step == "decode":
        return decode(field_value(messages, "use_case"), messages[0]["content"],
                      [m["content"] for m in messages if m["role"] == "assistant"])
    if step == "rubrics":
        return {"rubrics": ["deep reasoning", "cost analysis"], "actions": ["require a proof", "ask for the cost"]}
    if step == "improve":
        return improve(field_value(messages, "instruction"), field_value(messages, "action"))
    if step == "respond":
        return respond(field_value(messages, "instruction"))
    raise AssertionError(f"the world has no answer for step {step}")


def loss_of(text: str, token: str) -> float:
    return -3.0 if token.strip(".,:;!?()").lower() in HARD else -0.2


class WorldLM(ScriptedLM):
    """The strong model in process: every step by `answer`, any prompt outside a step by `proposal`."""

    def __init__(self, model: str = "world/strong"):
        super().__init__(answer, model=model)
        self.proposals = Proposals()

    def forward(self, prompt=None, messages=None, **kwargs):
        from codeclm.steps.base import ACTIVE_STEP

        if ACTIVE_STEP.get() is None:
            import litellm

            with self._lock:
                self.calls.append(("proposer", messages, kwargs))
            return litellm.ModelResponse(model=self.model, choices=[{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": self.proposals.reply(messages[0]["content"])}}],
                usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})
        return super().forward(prompt=prompt, messages=messages, **kwargs)


def world_lms() -> dict:
    return {"strong": WorldLM(), "target": ScriptedLM(lambda s, m: {"response": "t"}, model="world/target",
                                                      scorer=word_scores(loss_of))}


def wire_step(messages: list[dict]) -> str | None:
    """The step of a request as it arrives at the world's server; None for an optimizer's own prompt."""
    try:
        return step_from_request(messages)
    except AssertionError:
        return None
