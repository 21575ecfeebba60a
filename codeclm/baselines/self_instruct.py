"""Self-Instruct (Wang et al., 2022) as a data program: sample the pool, generate, filter near-duplicates, answer."""

from __future__ import annotations

import random
from dataclasses import dataclass

import dspy

from codeclm.baselines.base import Baseline
from codeclm.baselines.budget import CallBudget
from codeclm.baselines.filters import NearDuplicates, unsuitable
from codeclm.baselines.signatures import SelfInstructSignature
from codeclm.config import SelfInstructSettings
from codeclm.errors import StepError
from codeclm.records import Dropped, Record, Seed
from codeclm.runner import Runner
from codeclm.step import Step


def _instructions(prediction) -> list[str]:
    items = [" ".join(str(x).split()) for x in (prediction.new_instructions or [])]
    items = [x for x in items if x]
    if not items:
        raise ValueError("no instructions in the answer")
    return items


class GenerateInstructions(Step):
    """Examples from the pool in, new instructions out (prompts/self_instruct.jinja)."""

    name = "self_instruct"
    signature = SelfInstructSignature

    def __init__(self, *args, num: int = 4, **kwargs):
        super().__init__(*args, **kwargs)
        self.num = num

    def forward(self, examples: list[str], key: str) -> list[str]:
        return self.ask(key, _instructions, examples=examples)[: self.num]


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
        self.generate = GenerateInstructions(self.rendered["self_instruct"], self.strong, num=self.settings.new_per_prompt,
                                             **self.common, **config.generation.model_dump())

    def forward(self, seeds: list[Seed | str], runner: Runner | None = None, done: set[str] = frozenset()):
        runner = runner or Runner()
        s = self.settings
        texts = [seed.text if isinstance(seed, Seed) else seed for seed in seeds]
        budget = CallBudget(s.max_calls)
        pool = NearDuplicates(s.rouge_threshold, texts)
        rng = random.Random(self.config.seed)
        kept: list[Generated] = []
        dropped: list[Dropped] = []
        for round_ in range(s.max_rounds):
            # a generation call is worth making only if at least one answer still fits the budget
            if len(kept) >= s.num_instructions or not budget.room(2):
                break
            budget.take(1)
            examples = rng.sample(texts, min(s.seed_examples, len(texts)))
            examples += rng.sample([g.instruction for g in kept], min(s.generated_examples, len(kept)))
            try:
                new = self.generate(examples=examples, key=f"round{round_}")
            except StepError as exc:
                dropped.append(self.dropped(f"r{round_}", exc.step, exc.reason, None, kind="failed"))
                continue
            for j, text in enumerate(new):
                item_id = f"r{round_}-i{j}"
                reason = unsuitable(text)
                near = None if reason else pool.match(text)
                if near:
                    reason = f"near-duplicate: ROUGE-L {near[0]:.2f} > {s.rouge_threshold} with '{near[1][:80]}'"
                if reason or len(kept) >= s.num_instructions or not budget.take(1):
                    dropped.append(self.dropped(item_id, "dedup" if near else "filter", reason or "enough instructions", text))
                    continue
                pool.add(text)
                kept.append(Generated(item_id, text))
        results = runner.map("filter", self.answer, [g for g in kept if g.id not in done])
        return dspy.Prediction(
            records=[o.value for o in results if o.ok],
            dropped=dropped + [self.failure(o) for o in results if not o.ok],
            metadata=[],
        )

    def answer(self, item: Generated) -> Record:
        response = self.respond(instruction=item.instruction, key=item.id)
        return self.record(item.id, item.instruction, response, decision="kept (new: ROUGE-L <= threshold)")
