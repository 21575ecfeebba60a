"""Self-Instruct (Wang et al., 2022) as a data program: sample the pool, generate, filter near-duplicates, answer."""

from __future__ import annotations

import random
from dataclasses import dataclass

from codeclm.models.config import SelfInstructSettings
from codeclm.errors import StepError
from codeclm.programs.baseline import Baseline
from codeclm.programs.base import Stages
from codeclm.programs.budget import CallBudget
from codeclm.programs.filters import NearDuplicates, unsuitable
from codeclm.output.records import Dropped, Record, Seed, content_id
from codeclm.steps.generate import GenerateInstructions


@dataclass(frozen=True)
class Generated:
    id: str
    instruction: str


class SelfInstruct(Baseline):
    """Grow a pool from the seeds; a new instruction joins only if its ROUGE-L with every pool member is <= 0.7."""

    steps = ("self_instruct", "respond")

    def __init__(self, config, lms=None):
        super().__init__(config, lms)
        self.settings = config.self_instruct or SelfInstructSettings()
        self.new_instructions = GenerateInstructions(self.rendered["self_instruct"], self.strong, num=self.settings.new_per_prompt,
                                             **self.common, **config.generation.model_dump())

    def generate(self, seeds: list[Seed], stages: Stages) -> None:
        s = self.settings
        texts = [seed.text for seed in seeds]
        budget = CallBudget(s.max_calls)
        pool = NearDuplicates(s.rouge_threshold, texts)
        rng = random.Random(self.config.seed)
        kept: list[Generated] = []
        for round_ in range(s.max_rounds):
            # a generation call is worth making only if at least one answer still fits the budget
            if len(kept) >= s.num_instructions or not budget.room(2):
                break
            budget.take(1)
            examples = rng.sample(texts, min(s.seed_examples, len(texts)))
            examples += rng.sample([g.instruction for g in kept], min(s.generated_examples, len(kept)))
            try:
                new = self.new_instructions(examples=examples, key=f"round{round_}")
            except StepError as exc:
                stages.sink.drop(self.dropped(f"r{round_}", exc.step, exc.reason, None, kind="failed"))
                continue
            for text in new:
                item_id = content_id("si", " ".join(text.split()))
                reason = unsuitable(text)
                near = None if reason else pool.match(text)
                if near:
                    reason = f"near-duplicate: ROUGE-L {near[0]:.2f} > {s.rouge_threshold} with '{near[1][:80]}'"
                if reason or len(kept) >= s.num_instructions or not budget.take(1):
                    if item_id not in stages.done:
                        stages.sink.drop(self.dropped(item_id, "dedup" if near else "filter", reason or "enough instructions", text))
                    continue
                pool.add(text)
                kept.append(Generated(item_id, text))
        self.final_stage(stages, "filter", self.answer, kept)

    def answer(self, item: Generated) -> Record | Dropped:
        response = self.respond(instruction=item.instruction, key=item.id)
        return self.record(item.id, item.instruction, response, decision="kept (new: ROUGE-L <= threshold)")
