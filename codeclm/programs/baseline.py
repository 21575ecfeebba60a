"""What the baseline programs add to DataProgram: the strong model's Respond and records without metadata or judge."""

from __future__ import annotations

import dspy

from codeclm.models.config import ProgramConfig
from codeclm.programs.base import DataProgram
from codeclm.steps.guards import Answer, GuardCounts
from codeclm.output.records import AnswerCheck, Attempt, Dropped, Record
from codeclm.steps.respond import Respond


class Baseline(DataProgram):
    """A data program whose records are (instruction, strong response); no metadata, no judge."""

    steps: tuple[str, ...] = ("respond",)

    def __init__(self, config: ProgramConfig, lms: dict[str, dspy.BaseLM | None] | None = None):
        super().__init__(config)
        self.strong = dict(lms or {}).get("strong")
        self.common = {"max_attempts": config.max_attempts, "seed": config.seed}
        self.guard_counts = GuardCounts()
        self.respond = Respond(self.rendered["respond"], self.strong, role="strong", ask_again_when_cut=True,
                               counts=self.guard_counts, **self.common, **config.answering.model_dump())

    def template_names(self) -> dict[str, str]:
        return {step: step for step in self.steps}

    def model_names(self) -> dict[str, str]:
        name = self.respond.model_name or "?"
        return {"strong": name, "target": "-", "judge": "-"}

    def record(self, id: str, instruction: str, answer: Answer, *, iteration: int = 1, actions: list[str] | None = None,
               decision: str, history: list[Attempt] | None = None) -> Record | Dropped:
        """The kept pair; or, when the strong answer failed its guard, the item dropped with that reason."""
        if not answer.usable:
            return self.dropped(id, "guard", f"strong answer {answer.guard.replace('_', ' ')}", instruction, iteration=iteration)
        models = self.model_names()
        return Record(
            id=id, instruction=instruction, response=answer.text, response_source="strong", response_model=models["strong"],
            metadata=None, metadata_origin=None, iteration=iteration, actions=list(actions or []),
            strong_response=answer.text, target_response=None, answers={"strong": AnswerCheck.of(answer)},
            judge=None, gap=None, theta=None, decision=decision,
            history=history or [Attempt(iteration=iteration, instruction=instruction, decision=decision)],
            models=models, templates=self.templates, program=self.config.name, tuned=self.tuned,
        )

    def dropped(self, id: str, stage: str, reason: str, instruction: str | None, kind: str = "filtered", **extra) -> Dropped:
        return Dropped(id=id, stage=stage, kind=kind, reason=reason, instruction=instruction, program=self.config.name, **extra)
