"""What a run produces: kept instruction-response pairs and dropped items, each with its provenance."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel

from codeclm.steps.guards import Answer, Guard
from codeclm.steps.signatures import Metadata
from codeclm.steps.verdict import Verdict


def content_id(prefix: str, *parts: str, length: int = 10) -> str:
    """A short id derived from content, so an item keeps its id whatever else changes in a run."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}{digest[:length]}"


def seed_id(text: str) -> str:
    return content_id("s", " ".join(text.split()))


class Seed(BaseModel):
    id: str
    text: str


class Attempt(BaseModel):
    """One Self-Rubrics iteration of an instruction and the filter's verdict on it."""

    iteration: int
    instruction: str
    action: str | None = None
    rubric: str | None = None  # the Self-Rubrics rubric the action answers (outputs before it existed: None)
    gap: float | None = None
    decision: str


class AnswerCheck(BaseModel):
    """What the endpoint and the guards said of one answer (its text is in the record)."""

    finish_reason: str | None = None
    completion_tokens: int | None = None
    max_tokens: int | None = None
    guard: Guard = "ok"

    @classmethod
    def of(cls, answer: Answer) -> "AnswerCheck":
        return cls(**answer.model_dump(exclude={"text"}))


class Record(BaseModel):
    """One kept pair for fine-tuning the target, with everything needed to explain it."""

    id: str
    instruction: str
    response: str
    response_source: Literal["strong", "target"]
    response_model: str
    metadata: Metadata | None  # None where a program has no metadata (baselines, no-metadata ablation)
    metadata_origin: str | None  # "encoded:<seed id>", "enlarged", "seed:<seed id>" or None
    iteration: int
    actions: list[str]
    strong_response: str | None
    target_response: str | None
    answers: dict[str, AnswerCheck] = {}  # per role: finish_reason, tokens, guard
    judge: Verdict | None
    gap: float | None
    theta: float | None
    decision: str
    history: list[Attempt]
    models: dict[str, str]
    templates: dict[str, str]
    program: str
    tuned: str | None = None  # sha256 of the tuned program file whose prompts replaced the templates'


class Dropped(BaseModel):
    """An item that yielded no record: too easy at the cap, or failed at a step (with the reason)."""

    id: str
    stage: str
    reason: str
    kind: Literal["filtered", "failed"]
    instruction: str | None = None
    metadata: Metadata | None = None
    metadata_origin: str | None = None  # as in Record (outputs before it existed: None)
    iteration: int | None = None
    history: list[Attempt] = []
    program: str
