"""Evol-Instruct (WizardLM, Xu et al., 2023) as a data program: evolve each seed in depth or breadth, eliminate, answer."""

from __future__ import annotations

import random
from functools import partial
from dataclasses import dataclass, field

from codeclm.models.config import EvolInstructSettings
from codeclm.programs.base import Stages
from codeclm.programs.baseline import Baseline
from codeclm.programs.budget import CallBudget
from codeclm.programs.filters import eliminated
from codeclm.programs.signatures import EvolBreadthSignature, EvolDepthSignature
from codeclm.output.records import Attempt, Dropped, Record, Seed
from codeclm.steps.base import Step, rollout_id


def _text(name: str):
    def validate(prediction) -> str:
        text = str(getattr(prediction, name) or "").strip()
        if not text:
            raise ValueError(f"empty {name}")
        return text
    return validate


class EvolveInDepth(Step):
    """Make an instruction harder by one method: constraints, deepen, concretize, reasoning (prompts/evol_depth.jinja)."""

    name = "evol_depth"
    signature = EvolDepthSignature

    def forward(self, instruction: str, method: str, key: str) -> str:
        return self.ask(key, _text("evolved_instruction"), instruction=instruction, method=method)


class EvolveInBreadth(Step):
    """A new, rarer instruction in the same domain (prompts/evol_breadth.jinja)."""

    name = "evol_breadth"
    signature = EvolBreadthSignature

    def forward(self, instruction: str, key: str) -> str:
        return self.ask(key, _text("created_instruction"), instruction=instruction)


@dataclass
class Lineage:
    """One seed's line of evolutions; a failed evolution leaves it where it was (WizardLM)."""

    id: str
    instruction: str
    actions: list[str] = field(default_factory=list)
    history: list[Attempt] = field(default_factory=list)


class EvolInstruct(Baseline):
    """Each round, every seed's latest instruction evolves once (in-depth or in-breadth); each survivor is a record."""

    steps = ("evol_depth", "evol_breadth", "respond")

    def __init__(self, config, lms=None):
        super().__init__(config, lms)
        self.settings = config.evol_instruct or EvolInstructSettings()
        gen = config.generation.model_dump()
        self.depth = EvolveInDepth(self.rendered["evol_depth"], self.strong, **self.common, **gen)
        self.breadth = EvolveInBreadth(self.rendered["evol_breadth"], self.strong, **self.common, **gen)

    def generate(self, seeds: list[Seed], stages: Stages) -> None:
        lineages = [Lineage(s.id, s.text) for s in seeds]
        budget = CallBudget(self.settings.max_calls)
        for round_ in range(1, self.settings.rounds + 1):
            outcomes = self.final_stage(stages, "filter", partial(self.evolve, round_=round_, budget=budget), lineages, skip_done=False)
            lineages = [advance(o.item, o.value) if o.ok else o.item for o in outcomes]

    def operation(self, lineage: Lineage, round_: int) -> str:
        """In-breadth with probability `breadth_share`, else one in-depth method; seeded per seed and round."""
        rng = random.Random(rollout_id(self.config.seed, lineage.id, round_))
        if rng.random() < self.settings.breadth_share:
            return "breadth"
        return rng.choice(self.settings.depth_methods)

    def evolve(self, lineage: Lineage, round_: int, budget: CallBudget) -> Record | Dropped:
        """One evolution and its answer; on elimination the lineage keeps its previous instruction."""
        item_id, op = f"{lineage.id}-e{round_}", self.operation(lineage, round_)
        if not budget.take(2, key=item_id):
            return self.dropped(item_id, "budget", "call budget spent", lineage.instruction)
        if op == "breadth":
            evolved = self.breadth(instruction=lineage.instruction, key=item_id)
        else:
            evolved = self.depth(instruction=lineage.instruction, method=op, key=item_id)
        reason = eliminated(lineage.instruction, evolved)
        response = None if reason else self.respond(instruction=evolved, key=item_id)
        reason = reason or eliminated(lineage.instruction, evolved, response.text if response else None)
        attempt = Attempt(iteration=round_, instruction=evolved, action=op, decision=f"eliminated: {reason}" if reason else "kept")
        history = [*lineage.history, attempt]
        if reason:
            return self.dropped(item_id, "eliminate", reason, evolved, iteration=round_, history=history)
        return self.record(item_id, evolved, response, iteration=round_, actions=[*lineage.actions, op], decision="kept",
                           history=history)


def advance(lineage: Lineage, result: Record | Dropped) -> Lineage:
    """The lineage after one round: a kept evolution becomes its instruction; an eliminated one only joins its history."""
    if isinstance(result, Record):
        return Lineage(lineage.id, result.instruction, list(result.actions), list(result.history))
    return Lineage(lineage.id, lineage.instruction, list(lineage.actions), list(result.history or lineage.history))
