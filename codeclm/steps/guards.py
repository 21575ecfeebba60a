"""Guards: deterministic checks before an instruction is answered and before an answer is judged.

An instruction that points at material it does not give ("summarize the following paragraph" with no
paragraph), asks for experiences the assistant cannot have ("the last film you saw"), reads as a plan
instead of a request ("To find out, I will first ...") or repeats Improve's own wording ("the new
instruction is ...") is never answered: a strong answer would have to invent what is missing, and an
invented answer looks "hard" to any filter signal. The same holds for fragments and statements that
request nothing, for tasks about the assistant's own situation ("your company's products"), and for
instructions that carry their own solution (steps or code). A strong answer that is cut off
(finish_reason "length"), empty, a refusal, degenerate repetition, a request for the input the
instruction does not give, a restatement of the instruction, or a few words for a design or an
explanation never becomes training data; a target answer with the same defects is only recorded (the
target failing is what Contrastive Filtering looks for).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Literal

from pydantic import BaseModel

from codeclm.words import words

Guard = Literal["ok", "cut_off", "empty", "refusal", "repetition", "asks_for_input", "echo", "too_short"]
InstructionGuard = Literal["ok", "missing_input", "personal_experience", "not_a_request", "contains_answer"]

_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry,|i apologi[sz]e|i can(?:no|')t|i am (?:not able|unable)|i'm (?:not able|unable)"
    r"|as an ai\b|i (?:do not|don't) (?:have the ability|feel comfortable))", re.I)
REFUSAL_MAX_WORDS = 60  # a refusal is short; a long answer that opens with "Sorry, ..." usually goes on to answer
# ...but an answer that opens by disowning the task ("As an AI language model, I don't have the ability to watch
# movies. However, ...") hedges at any length: what follows is made up or generic.
_DISCLAIMER = re.compile(
    r"^\W*(?:i'?m sorry,?\s*(?:but\s*)?|sorry,?\s*(?:but\s*)?|unfortunately,?\s*)?(?:as an ai\b|as a language model\b"
    r"|i (?:do not|don't|cannot|can't|am unable to|am not able to) (?:have|watch|browse|access|see|experience|hear|visit"
    r"|attend|remember|recall) (?:the ability|personal|real-time|access|any|movies|films|the internet|experiences))", re.I)

# Verbs that work on material the user supplies (not verbs that produce it: "write a paragraph" is fine).
_WORKS_ON = (r"summari[sz]e|rewrite|re-write|revise|paraphrase|translate|translating|transform|convert|condense|shorten|simplify|edit|proofread"
             r"|correct|fix|debug|refactor|optimi[sz]e|improve|analy[sz]e|review|critique|evaluate|classify|categori[sz]e|label"
             r"|extract|identify|find|highlight|explain|interpret|annotate|grade|score|rate|count|sort|parse|format|reformat"
             r"|answer|respond to|reply to|complete|continue|expand|outline|compare|tag|detect|check|read|use|based on")
_MATERIAL = (r"paragraph|passage|article|text|essay|story|poem|email|e-mail|letter|message|code|snippet|function|program|script"
             r"|sentence|sentences|document|report|table|dataset|data|list|image|picture|photo|chart|graph|lyrics|song|excerpt"
             r"|abstract|file|link|url|video|conversation|dialogue|transcript|tweet|post|review|question|questions|statement"
             r"|input|sql query|query|json|csv|spreadsheet|recipe|speech|summary|page|chapter|book|paper|study")
_POINTER = re.compile(
    rf"\b(?:the\s+)?(?:following|given|provided|attached|above|below|accompanying|enclosed|aforementioned)\s+"
    rf"(?:[\w,.'-]+\s+){{0,3}}?(?:{_MATERIAL})\b"
    rf"|\b(?:{_WORKS_ON})\s+(?:\w+\s+){{0,2}}?(?:the|this|these|that|those|a|an|my|your|our|their|his|her)\s+(?:[\w,.'-]+\s+){{0,3}}?(?:{_MATERIAL})s?\b"
    rf"|\b(?:this|these)\s+(?:{_MATERIAL})s?\b"
    r"|\b(?:in|from|of)\s+(?:their|his|her)\s+(?:\w+\s+)?(?:book|novel|film|movie|article|paper|essay|poem|song|speech)\b", re.I)
_EXPERIENCE = re.compile(
    r"\byou(?:'ve| have)?\s+(?:recently\s+|last\s+|just\s+)?(?:saw|seen|watched|read|visited|attended|experienced|bought"
    r"|tried|went to|ate|listened to|played|stayed at)\b"
    r"|\byour\s+(?:own\s+)?(?:personal\s+)?(?:experiences?|childhood|last (?:trip|vacation|holiday)|recent (?:trip|visit|vacation))\b"
    r"|\b(?:the\s+)?(?:last|latest|most recent)\s+(?:\w+\s+){0,3}(?:you|you've)\b", re.I)
_PLAN = re.compile(r"^\W*(?:to\s[^.?!]{0,120}?,\s*)?(?:i|we)\s+(?:will|would|'ll|am going to|shall|need to|must)\b"
                   r"|^\W*(?:first,?\s+i\b|let me\b|let's\b|i'll\b)"
                   # a prompt back to the user, not a request to the assistant
                   r"|^\W*please\s+(?:provide|select|specify|share|let me know|tell me|choose|enter|give me)\b"
                   r"|^\W*(?:you can choose|your request\b|this is an? (?:example|sample)\b)", re.I)
# Improve's own wording copied into the instruction ("The new instruction is at most 3 sentences longer ...").
_TEMPLATE_ECHO = re.compile(r"\b(?:the|this|your)\s+(?:new|original|given|improved|rewritten|revised|previous)\s+instruction\b"
                            r"(?!\s+set)|\bapply(?:ing)?\s+the\s+(?:given\s+)?action\b", re.I)
# An instruction that carries a solution of its own: a code block or code line, or a list of steps (Improve's
# rewrites of the 1.5B: "Implement a stack ... 1. Initialize ... ```class Node```"), unless it asks to work on that
# material (fix, explain, convert ... this code).
_CARRIES_CODE = re.compile(r"```|^\s*(?:def|class|import|public|#include)\b", re.M)
_CARRIES_STEPS = re.compile(r"\bsteps\b[^\n]*\n\s*(?:\*\*)?1\.", re.I)
_WORKS_ON_IT = re.compile(r"\b(?:fix|debug|explain|review|refactor|optimi[sz]e|convert|translate|analy[sz]e|complete|correct"
                          r"|rewrite|simplify|comment|document|test|find|identify|what|why|which|does|is there|given|following"
                          r"|below|this|these)\b", re.I)
# A task whose input is a parameter of the code it asks for ("a function that counts the words of a given string",
# "read a file and count ..."): the material is the program's input, not missing.
_CODE_TASK = re.compile(r"\b(?:write|create|implement|build|develop|code|design)\b[^.?!]{0,60}?\b(?:function|program|script|class|method"
                        r"|code|api|module|query)\b|\b(?:python|java|javascript|c\+\+|sql|bash)\b.*\b(?:function|script|program)\b"
                        r"|^\W*read a file\b", re.I)


# The assistant's own situation, which no instruction gives: "your company's products", "you're selling".
_OWN_SITUATION = re.compile(
    r"\b(?:your|our)\s+(?:own\s+)?(?:strengths|career|product|products|company|company's|business|project|projects|team|manager|boss"
    r"|goals|item|items|services|offerings|website|resume|cv|plan|skills|colleagues?|clients?|customers?|progress|research|paper"
    r"|findings|data|work)\b|\byou(?:'re| are)\s+(?:selling|working on|building|writing|developing)\b|\bhow you will\b", re.I)
# A request: a question, a request phrase, or a sentence opening with a verb of asking or a question word (or a
# "Given/Using ..." clause before such a verb). Text with none of these is a statement, not a request.
_IMPERATIVE = frozenset("""
    act adapt add adjust advise allocate analyse analyze annotate announce answer apologize apply argue arrange ask assess assign assist
    book brainstorm break bring build calculate categorise categorize change check choose cite clarify classify clean collect combine come
    compare complete compose compute condense conduct configure congratulate connect consider construct continue contrast convert convince
    cook copy correct count cover craft create critique cut debug decide decode decrypt defend define delete deliver demonstrate deploy
    derive describe design detect determine develop devise diagnose discuss distinguish divide document double download draft draw edit
    elaborate email encode encrypt enumerate establish estimate evaluate examine expand explain explore express extract fill filter find
    finish fit fix follow forecast format formulate frame generate get give go grade greet guess guide handle help highlight identify
    illustrate imagine implement improve include increase indicate infer inform insert install integrate interpret introduce invent
    investigate invite join justify keep label learn let link list locate look maintain make manage map match measure mention merge model
    modify monitor move multiply name narrate note notify observe obtain offer open optimise optimize order organise organize outline pair
    paraphrase parse perform persuade pick plan point pose post practice practise predict prepare present pretend print prioritise
    prioritize process produce program promote proofread propose prove provide put query quote raise rank rate re-write read reason recall
    recite recognise recognize recommend record reduce refactor refer reflect reformat reframe register relate remind remove render reorder
    reorganize repeat rephrase replace reply report represent request research resolve respond restate restructure retell retrieve return
    reverse review revise rewrite role-play roleplay run save say scale scan schedule score script search select send separate set setup
    share shorten show simplify sing sketch solve sort specify spell split start state store structure study submit subtract suggest sum
    summarise summarize support swap switch tabulate tag take tally teach tell test thank trace track train transcribe transform translate
    translating treat turn tweet update upgrade use validate verify visualise visualize walk weigh welcome wrap write
""".split())
_QUESTION_WORDS = frozenset("what why how who whom whose when where which can could would will should is are do does did was were may might shall".split())
_REQUEST_PHRASE = re.compile(
    r"\b(?:can you|could you|would you|will you|i need|i want|i'd like|i would like|help me|please|i'm looking for|i am looking for"
    r"|let's|you should|you need to|you must|your task is|the task is|i'd love|i would love|i'm trying|i am trying|i'm planning"
    r"|i am planning)\b", re.I)
_LEAD_IN = frozenset("given using based for in with as if after before suppose assume consider imagine".split())
MIN_INSTRUCTION_WORDS = 5  # "new game analysis", "extract skills from text": fragments, not requests ("Explain TCP." is one)


def fragment(text: str) -> bool:
    """Under MIN_INSTRUCTION_WORDS words and no closing punctuation: a heading or a note, not a request."""
    return len(text.split()) < MIN_INSTRUCTION_WORDS and not re.search(r"[.?!:)\]\"'`]\s*$", text)


def requests_something(text: str) -> bool:
    """Does `text` ask for something: a question mark, a request phrase, or a sentence that opens with a verb of asking?"""
    if "?" in text or _REQUEST_PHRASE.search(text):
        return True
    for sentence in re.split(r"(?<=[.?!:])\s+|\n+", text):
        words = [w.lower().strip(",:;\"'*") for w in re.sub(r"^[^A-Za-z]+", "", sentence).split()]
        if words and (words[0] in _IMPERATIVE or words[0] in _QUESTION_WORDS
                      or (words[0] in _LEAD_IN and any(w in _IMPERATIVE for w in words[1:]))):
            return True
    return False


# A strong answer that asks for what the instruction should have given: the instruction is missing its input.
_ASKS_FOR_INPUT = re.compile(
    r"(?:please|could you|can you|kindly)\s+(?:\w+\s+){0,2}(?:provide|share|paste|send|specify|give me|tell me)\s+(?:me\s+)?(?:with\s+)?"
    r"(?:the|your|a|an|some|more|additional|any|which|what)\b(?!\s+(?:feedback|thoughts)\b)"
    r"|\bi(?:'d| would)? need (?:more|the|some|additional)\s+(?:information|details|context|text|data|code)"
    r"|\bno (?:text|code|data|passage|paragraph|article|input) (?:was|has been|is) (?:provided|given)"
    r"|\bwithout (?:the|more|additional) (?:text|details|information|context)", re.I)
ASKS_FOR_INPUT_WITHIN = 400  # characters: the request for input opens the answer

# An answer that restates the instruction: nearly all its words are the instruction's, and it is no mere label.
ECHO_SHARE = 0.95  # of the answer's words found in the instruction
ECHO_MIN_LENGTH = 0.5  # answer words per instruction word ("Spam" for "Categorize these emails ..." is an answer)
# A few words for a request that needs a design, an explanation or a piece of writing ("Use a hash table.").
TERSE_MAX_WORDS = 7
_OPEN_ENDED = re.compile(
    r"^\W*(?:please\s+)?(?:design|implement|develop|explain|describe|discuss|compare|outline"
    r"|(?:write|create|build|compose|draft)\s+(?:a|an)\s+(?:\w+\s+){0,3}?(?:program|function|script|class|essay|article|story"
    r"|blog|post|guide|plan|tutorial|report|letter|email|algorithm|data structure))\b", re.I)
_ASKS_FOR_BREVITY = re.compile(r"\b(?:one|single|a few|two|three)\s+words?\b|\bin a word\b|\bone sentence\b|\bbriefly\b"
                               r"|\bshort\b|\bconcise\b|\bname\b|\bone[- ]liner\b", re.I)


def echoes(answer: str, instruction: str) -> bool:
    """Does the answer restate the instruction (ECHO_SHARE of its words are the instruction's, ECHO_MIN_LENGTH long)?"""
    said, asked = words(answer), words(instruction)
    if not said or not asked or len(said) < ECHO_MIN_LENGTH * len(asked):
        return False
    given = set(asked)
    return sum(word in given for word in said) >= ECHO_SHARE * len(said)


def too_short(answer: str, instruction: str) -> bool:
    """A few words (<= TERSE_MAX_WORDS, no code or formula) for a design, explanation or writing task that did not
    ask for brevity."""
    return (len(answer.split()) <= TERSE_MAX_WORDS and not re.search(r"[`(){}=;]", answer) and bool(_OPEN_ENDED.match(instruction))
            and not _ASKS_FOR_BREVITY.search(instruction))


class Answer(BaseModel):
    """One model's answer with what the endpoint said about it and what the guards found."""

    text: str
    finish_reason: str | None = None
    completion_tokens: int | None = None
    max_tokens: int | None = None
    guard: Guard = "ok"

    @property
    def usable(self) -> bool:
        return self.guard == "ok"


def repetitive(text: str, n: int = 4, min_words: int = 40, max_unique_share: float = 0.35) -> bool:
    """Degenerate repetition: in a text of >= `min_words` words, few distinct word n-grams, or a line said 4+ times."""
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) > 10]
    if lines and Counter(lines).most_common(1)[0][1] >= 4:
        return True
    words = text.lower().split()
    if len(words) < min_words:
        return False
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) < max_unique_share


def gives_material(instruction: str) -> bool:
    """Does the instruction carry its own material: a block after a colon or a line break, or a quoted text, of 6+ words?"""
    for part in re.split(r":\s|\n", instruction)[1:]:
        if len(part.split()) >= 6:
            return True
    if any(len(block.split()) >= 6 for block in re.findall(r"```(.*?)```", instruction, re.S)):  # code to work on
        return True
    return any(len(q.split()) >= 6 for q in re.findall(r"[\"\u201c]([^\"\u201d]+)[\"\u201d]", instruction))


def check_instruction(text: str) -> InstructionGuard:
    """The first instruction guard `text` fails, or "ok" (see the module docstring)."""
    stripped = text.strip()
    if _PLAN.match(stripped) or _TEMPLATE_ECHO.search(stripped) or fragment(stripped) or not requests_something(stripped):
        return "not_a_request"
    if _EXPERIENCE.search(stripped) or (_OWN_SITUATION.search(stripped) and not _CODE_TASK.search(stripped)):
        return "personal_experience"
    if _POINTER.search(stripped) and not gives_material(stripped) and not _CODE_TASK.search(stripped):
        return "missing_input"
    if carries_solution(stripped):
        return "contains_answer"
    return "ok"


def carries_solution(instruction: str) -> bool:
    """A numbered list announced as steps, or code in an instruction whose first line does not ask to work on given
    material."""
    first_line = instruction.split("\n", 1)[0]
    return bool(_CARRIES_STEPS.search(instruction)) or (bool(_CARRIES_CODE.search(instruction))
                                                        and not _WORKS_ON_IT.search(first_line))


def check(text: str, finish_reason: str | None, instruction: str | None = None) -> Guard:
    """The first guard an answer fails, or "ok" (`echo` and `too_short` need the instruction it answers)."""
    if finish_reason == "length":
        return "cut_off"
    stripped = text.strip()
    if not stripped:
        return "empty"
    if (len(stripped.split()) <= REFUSAL_MAX_WORDS and _REFUSAL.match(stripped)) or _DISCLAIMER.match(stripped):
        return "refusal"
    if repetitive(stripped):
        return "repetition"
    if _ASKS_FOR_INPUT.search(stripped[:ASKS_FOR_INPUT_WITHIN]):
        return "asks_for_input"
    if instruction and echoes(stripped, instruction):
        return "echo"
    if instruction and too_short(stripped, instruction.strip()):
        return "too_short"
    return "ok"


class GuardCounts:
    """Guard outcomes per role, counted as answers arrive (summary and manifest); safe across threads.

    An answer given with a `key` is counted once however often its item is replayed (the batch
    executor runs an item again from its start after each batch; cached answers come back).
    """

    def __init__(self) -> None:
        self._counts: dict[str, Counter] = {}
        self._seen: set[tuple[str, object]] = set()
        self._lock = threading.Lock()

    def add(self, role: str, answer: Answer, retried: bool = False, key: object = None) -> None:
        self.add_guard(role, answer.guard, retried=retried, key=key)

    def add_guard(self, role: str, guard: str, retried: bool = False, key: object = None) -> None:
        """Count one guard outcome of `role` ("strong", "target", or "instruction" for the instruction guard)."""
        with self._lock:
            if key is not None:
                if (role, key) in self._seen:
                    return
                self._seen.add((role, key))
            counts = self._counts.setdefault(role, Counter())
            counts[guard] += 1
            counts["answers" if role != "instruction" else "instructions"] += 1
            if retried:
                counts["asked_again_with_more_tokens"] += 1

    def summary(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {role: dict(sorted(c.items())) for role, c in sorted(self._counts.items())}

    def take_counts(self) -> dict[str, dict[str, int]]:
        """The counts so far, zeroed here (a Ray worker hands them to the driver's program with `add_counts`)."""
        with self._lock:
            taken, self._counts = {role: dict(c) for role, c in self._counts.items()}, {}
        return taken

    def add_counts(self, counts: dict[str, dict[str, int]]) -> None:
        """Add counts taken from another program's GuardCounts (`take_counts`)."""
        with self._lock:
            for role, c in counts.items():
                self._counts.setdefault(role, Counter()).update(c)

    def __deepcopy__(self, memo):  # shared by design, like the ledger: a copied program counts into the same place
        return self
