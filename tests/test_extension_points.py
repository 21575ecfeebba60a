"""A new judging scheme and a new data program, added in exactly the places README and docs/design.md name.

Their "where to change what" rows say: a scheme is its judge class, its `Scheme` record in
codeclm/judging/schemes.py and its prompts/<template>.jinja; a program is its DataProgram and its line in
`PROGRAMS` (codeclm/models/config.py). Here a toy of each is added in those places only (the record and the
line at test time, the template in a copy of the prompts folder) and every reader is walked: config, the
judge, the roles' logprob needs, the check's fix, calibration, a whole run. A hard-coded list of schemes or
programs on any of these paths, or docs that name other places, makes it fail.
Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from contextlib import ExitStack
from pathlib import Path

import dspy
import pytest
from fakes import ScriptedLM, field_value

import codeclm.local
import codeclm.models.config
from codeclm.check.grading import Case, run_check
from codeclm.check.program import require_passed
from codeclm.engine import Engine, UsageLedger
from codeclm.errors import ConfigError, JudgeCalibrationError
from codeclm.judging.base import Judge
from codeclm.judging.schemes import SCHEMES, Scheme, make_judge
from codeclm.models.config import load_config
from codeclm.models.roles import RoleLMs
from codeclm.programs.baseline import Baseline
from codeclm.run import run
from codeclm.steps.contrast import ContrastiveFilter
from codeclm.steps.guards import Answer, check
from codeclm.steps.verdict import OrderVerdict, combine

ROOT = Path(__file__).resolve().parent.parent
# What the docs' rows name, as the code needs it: the test below adds its toys in these places and no other.
PLACES = {
    "a new judging scheme": {"codeclm/judging/<scheme>.py", "codeclm/judging/schemes.py", "prompts/<template>.jinja"},
    "a new program (a baseline, a variant)": {"codeclm/programs/<name>.py", "codeclm/models/config.py"},
}


# ---- the toy scheme: its judge class (judging/<scheme>.py), its record (judging/schemes.py), its template -------

class WordCount(dspy.Signature):
    """Count the words of the answer."""

    instruction: str = dspy.InputField()
    answer: str = dspy.InputField()
    words: int = dspy.OutputField()


class WordsJudge(Judge):
    """Rates each answer by its length in words: gap = strong words - target words."""

    signature = WordCount

    def forward(self, instruction: str, strong: str, target: str, key: str):
        counts = [self.ask((key, role), lambda p: int(p.words), instruction=instruction, answer=answer)
                  for role, answer in (("strong", strong), ("target", target))]
        return combine([OrderVerdict(order="pointwise", strong=counts[0], target=counts[1])], self.scheme, self.scale)


TOY = Scheme(name="toy-words", judge=f"{__name__}:WordsJudge", template="judge_words", threshold=2.0, gap_max=50.0,
             max_tokens=7, scale="gap of word counts", description="longer answers win", fix="count more carefully",
             both_orders=False, logprobs=True)


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The toy scheme registered (its record) and its template beside a copy of the shipped ones."""
    monkeypatch.setitem(SCHEMES, TOY.name, TOY)
    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    (prompts / "judge_words.jinja").write_text("Count the words of the answer.\n")
    return prompts


def words(messages) -> dict:
    return {"words": len(field_value(messages, "answer").split())}


def toy_config(tmp_path, prompts, *more):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Tell me about Paris.\n")
    return load_config(ROOT / "programs" / "codeclm.yaml", [
        f"judging.scheme={TOY.name}", f"prompts={prompts}", f"seeds.path={seeds}", f"output={tmp_path / 'out.jsonl'}",
        "num_metadata=1", "instructions_per_metadata=1", "max_iterations=1", "cache.enabled=false",
        "judging.check.enabled=false", *more])


def test_config_accepts_the_new_scheme_with_its_theta_and_scale(toy, tmp_path):
    config = toy_config(tmp_path, toy)
    assert (config.judging.scheme, config.theta, config.theta_source) == ("toy-words", 2.0, "scheme default")
    with pytest.raises(ConfigError, match="theta 60.0 is off the toy-words scale"):
        toy_config(tmp_path, toy, "theta=60")


def test_a_scheme_that_needs_calibration_says_so_from_its_record(toy, tmp_path, monkeypatch):
    monkeypatch.setitem(SCHEMES, TOY.name, dataclasses.replace(TOY, needs_calibration=True))
    assert toy_config(tmp_path, toy).theta_source == "uncalibrated"


def test_make_judge_builds_it_from_its_record_and_its_template(toy):
    from codeclm.prompting.templates import PromptLibrary

    lm = ScriptedLM(lambda step, messages: words(messages))
    judge = make_judge(TOY.name, PromptLibrary(toy).render(TOY.template), lm)
    verdict = judge(instruction="Say hi.", strong="Hello there, friend.", target="Hi.", key="k")
    assert type(judge) is WordsJudge and (verdict.scheme, verdict.scale, verdict.gap) == ("toy-words", "gap of word counts", 2.0)
    assert lm.calls[0][2]["max_tokens"] == 7 and lm.calls[0][2]["logprobs"] is True  # its cap; it reads logprobs
    assert "Count the words of the answer." in lm.calls[0][1][0]["content"]


def test_a_local_judge_of_the_new_scheme_gets_a_server_with_logprobs(toy, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(codeclm.local, "open_endpoint", lambda name, stack, logprobs=False: opened.append((name, logprobs))
                        or codeclm.local.LocalEndpoint(f"http://127.0.0.1:9/{name}", name, name, True))
    config = toy_config(tmp_path, toy)
    RoleLMs(Engine(cache=None, ledger=UsageLedger()), ExitStack(), "p.yaml").for_program(config)
    assert dict(opened) == {config.models.strong.local: True, config.models.target.local: False}  # the judge is the strong


def test_a_failed_check_of_the_new_scheme_names_its_fix(toy):
    from codeclm.prompting.templates import PromptLibrary

    judge = make_judge(TOY.name, PromptLibrary(toy).render(TOY.template), ScriptedLM(lambda step, messages: words(messages)))
    cases = [Case(id=f"c{n}", family="f", instruction=f"Task {n}?", label="keep" if n % 2 else "send_back", use_case="u",
                  strong=Answer(text="The answer is here.", finish_reason="stop", guard=check("The answer is here.", "stop")),
                  target=Answer(text="It is.", finish_reason="stop", guard=check("It is.", "stop")))
             for n in range(30)]
    report = run_check(ContrastiveFilter(None, None, judge), cases, theta=TOY.threshold, min_accuracy=0.75)
    assert report.scheme == "toy-words" and not report.passed  # a constant gap decides nothing
    with pytest.raises(JudgeCalibrationError, match="Fix: count more carefully;"):
        require_passed(report)


def test_a_whole_run_filters_with_the_new_scheme(toy, tmp_path):
    def strong(step, messages):
        if step == "encode":
            return {"use_case": "travel", "skills": ["facts"]}
        if step == "decode":
            return {"new_instructions": ["Describe the Seine in Paris."]}
        return words(messages) if step == "judge" else {"response": "The Seine flows through Paris and on to the sea."}

    target = ScriptedLM(lambda step, messages: {"response": "A river."})
    config = toy_config(tmp_path, toy)
    summary = run(config, lms={"strong": ScriptedLM(strong), "target": target})
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert summary["kept"] == 1 and (records[0]["judge"]["scheme"], records[0]["gap"], records[0]["theta"]) == ("toy-words", 8.0, 2.0)
    assert records[0]["templates"]["judge"] == config.prompt_library().render(TOY.template).sha256  # its own template


# ---- the toy program: its DataProgram (programs/<name>.py) and its line in PROGRAMS (models/config.py) -----------

class SeedAnswers(Baseline):
    """Each seed instruction answered by the strong model and kept."""

    def generate(self, seeds, stages):
        self.final_stage(stages, "answer", lambda seed: self.record(
            seed.id, seed.text, self.respond(instruction=seed.text, key=seed.id), decision="kept"), seeds)


def test_a_new_program_runs_from_its_line_in_programs(monkeypatch, tmp_path):
    monkeypatch.setitem(codeclm.models.config.PROGRAMS, "seed_answers", f"{__name__}:SeedAnswers")
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Name a river in Paris.\nName a city in France.\n")
    config = load_config(ROOT / "programs" / "self_instruct.yaml", [
        "program=seed_answers", "name=seed_answers", f"seeds.path={seeds}", f"output={tmp_path / 'out.jsonl'}",
        "cache.enabled=false"])
    summary = run(config, lms={"strong": ScriptedLM(lambda step, messages: {"response": "The Seine."})})
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert summary["kept"] == 2 and {r["program"] for r in records} == {"seed_answers"}
    assert sorted(r["instruction"] for r in records) == ["Name a city in France.", "Name a river in Paris."]


# ---- the docs name the same places, in README and docs/design.md ------------------------------------------------

def rows(path: Path) -> dict[str, str]:
    """A "where to change what" table: first cell -> second cell."""
    found = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2:
            found[cells[0]] = cells[1]
    return found


@pytest.mark.parametrize("change", [*PLACES, "a provider or endpoint", "a new batch API"])
def test_readme_and_design_name_the_same_places(change):
    readme, design = rows(ROOT / "README.md"), rows(ROOT / "docs" / "design.md")
    assert readme[change] == design[change]
    if change in PLACES:
        assert set(re.findall(r"`([\w<>./-]+\.(?:py|jinja))`", readme[change])) == PLACES[change]
