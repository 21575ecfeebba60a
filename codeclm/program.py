"""CodecLM as one DSPy program: forward() is the paper's pipeline (Wang et al., 2024, Sec. 3)."""

from __future__ import annotations

from dataclasses import dataclass

import dspy

from codeclm.baselines.self_instruct import GenerateInstructions
from codeclm.config import ProgramConfig
from codeclm.records import Attempt, Dropped, Record, Seed
from codeclm.runner import Outcome, Runner
from codeclm.signatures import Metadata
from codeclm.steps.contrast import Contrast, ContrastiveFilter, decide
from codeclm.steps.decode import Decode
from codeclm.steps.encode import Encode
from codeclm.steps.enlarge import Enlarge
from codeclm.judging.schemes import judge_from_config
from codeclm.steps.respond import Respond
from codeclm.steps.rubrics import Improve, Rubrics, SelfRubrics
from codeclm.templates import PromptLibrary

STEPS = ("encode", "decode", "rubrics", "improve", "respond", "judge")


@dataclass(frozen=True)
class MetadataItem:
    id: str
    metadata: Metadata
    origin: str


@dataclass(frozen=True)
class InstructionItem:
    id: str
    instruction: str
    source: MetadataItem
    rubrics: Rubrics | None


class CodecLM(dspy.Module):
    """Encode seeds to metadata, enlarge, decode instructions, then Self-Rubrics + Contrastive Filtering.

    LMs are given per role (strong / target / judge); they are not part of the
    program's saved state, so a tuned program can be loaded against other models.
    """

    def __init__(self, config: ProgramConfig, lms: dict[str, dspy.BaseLM | None] | None = None):
        super().__init__()
        lms = dict(lms or {})
        strong, target, judge = lms.get("strong"), lms.get("target"), lms.get("judge") or lms.get("strong")
        prompts = PromptLibrary(config.resolve(config.prompts), config.template_variables())
        rendered = {step: prompts.render(step) for step in STEPS}
        gen = config.generation.model_dump()
        common = {"max_attempts": config.max_attempts}
        self.config = config
        self.encode = Encode(rendered["encode"], strong, **common, **gen)
        self.enlarge = Enlarge(seed=config.seed, num_skills=config.num_skills)
        self.decode = Decode(rendered["decode"], strong, num_instructions=config.instructions_per_metadata, **common, **gen)
        self.rubrics = SelfRubrics(rendered["rubrics"], strong, num_rubrics=config.num_rubrics, **common, **gen)
        self.improve = Improve(rendered["improve"], strong, **common, **gen)
        answer = config.answering.model_dump()
        self.contrastive_filter = ContrastiveFilter(
            respond_strong=Respond(rendered["respond"], strong, role="strong", **common, **answer),
            respond_target=Respond(rendered["respond"], target, role="target", **common, **answer),
            judge=judge_from_config(config, prompts, judge),
        )
        self.templates = {step: rendered[step].sha256 for step in STEPS} | {"judge": self.contrastive_filter.judge.template_sha256}

        if not config.ablation.metadata:  # ablation: new instructions from each seed, Self-Instruct style
            seeded = prompts.render("self_instruct")
            self.from_seeds = GenerateInstructions(seeded, strong, num=config.instructions_per_metadata, **common, **gen)
            self.templates["self_instruct"] = seeded.sha256

    def forward(self, seeds: list[Seed | str], runner: Runner | None = None, done: set[str] = frozenset()):
        """Run the pipeline; `done` lists instruction ids already recorded (resume)."""
        runner = runner or Runner()
        seeds = [s if isinstance(s, Seed) else Seed(id=f"s{i}", text=s) for i, s in enumerate(seeds)]
        if self.config.ablation.metadata:
            encoded = runner.map("encode", lambda s: self.encode(instruction=s.text, key=s.id), seeds)
            pool = self.metadata_pool([o for o in encoded if o.ok])
            rubrics = self.rubrics_for(pool, runner)
            decoded = runner.map("decode", lambda m: self.decode(metadata=m.metadata, key=m.id), pool)
        else:  # paper Table 3, "no metadata": instructions generated from the seed instructions directly
            encoded, pool, rubrics, text = [], [], {}, {s.id: s.text for s in seeds}
            sources = [MetadataItem(s.id, None, f"seed:{s.id}") for s in seeds]
            decoded = runner.map("decode", lambda m: self.from_seeds(examples=[text[m.id]], key=m.id), sources)
        instructions = [
            InstructionItem(id=f"{o.item.id}-i{j}", instruction=text, source=o.item, rubrics=rubrics.get(o.item.id))
            for o in decoded
            if o.ok
            for j, text in enumerate(o.value)
        ]
        todo = [item for item in instructions if item.id not in done]
        results = runner.map("filter", self.evolve, todo)
        failed = [self.failure(o) for o in (*encoded, *decoded, *results) if not o.ok]
        return dspy.Prediction(
            records=[o.value for o in results if o.ok and isinstance(o.value, Record)],
            dropped=[o.value for o in results if o.ok and isinstance(o.value, Dropped)] + failed,
            metadata=[m.metadata for m in pool],
        )

    def metadata_pool(self, encoded: list[Outcome]) -> list[MetadataItem]:
        """Metadata enlargement: encoded metadata first, then mix-and-match up to `num_metadata`."""
        origin = {o.value.key(): f"encoded:{o.item.id}" for o in reversed(encoded)}
        enlarged = self.enlarge(metadata=[o.value for o in encoded], n=self.config.num_metadata)
        return [MetadataItem(f"m{i}", m, origin.get(m.key(), "enlarged")) for i, m in enumerate(enlarged)]

    def rubrics_for(self, pool: list[MetadataItem], runner: Runner) -> dict[str, Rubrics]:
        """Self-Rubrics once per metadata, only when instructions can loop back to it."""
        if not self.config.ablation.self_rubrics or self.config.max_iterations < 2:
            return {}
        outcomes = runner.map("rubrics", lambda m: self.rubrics(metadata=m.metadata, key=m.id), pool)
        return {o.item.id: o.value for o in outcomes if o.ok}

    def evolve(self, item: InstructionItem) -> Record | Dropped:
        """Self-Rubrics iterations under Contrastive Filtering, until kept, or dropped at the cap."""
        cfg, history, applied = self.config, [], []
        actions = item.rubrics.action_order(cfg.seed, item.id) if item.rubrics else []
        max_iterations = min(cfg.max_iterations, 1 + len(actions))
        instruction = item.instruction
        for iteration in range(1, max_iterations + 1):
            key = f"{item.id}/{iteration}"
            if iteration > 1:
                action = actions[iteration - 2]
                instruction = self.improve(instruction=instruction, metadata=item.source.metadata, action=action, key=key)
                applied.append(action)
            if not cfg.ablation.contrastive_filtering:
                strong = self.contrastive_filter.respond_strong(instruction=instruction, key=key)
                history.append(Attempt(iteration=iteration, instruction=instruction, action=_last(applied), decision="kept (filter off)"))
                return self.record(item, instruction, strong, "strong", None, history, applied)
            contrast = self.contrastive_filter(instruction=instruction, key=key)
            decision = decide(contrast.verdict.gap, cfg.theta, iteration, max_iterations)
            history.append(
                Attempt(iteration=iteration, instruction=instruction, action=_last(applied), gap=contrast.verdict.gap, decision=decision.reason)
            )
            if decision.action == "keep_strong":
                return self.record(item, instruction, contrast.strong_response, "strong", contrast, history, applied)
            if decision.action == "keep_target":
                return self.record(item, instruction, contrast.target_response, "target", contrast, history, applied)
            if decision.action == "drop":
                break
        return Dropped(
            id=item.id, stage="filter", kind="filtered", reason=history[-1].decision, instruction=instruction,
            metadata=item.source.metadata, iteration=len(history), history=history, program=cfg.name,
        )

    def record(self, item, instruction, response, source, contrast: Contrast | None, history, applied) -> Record:
        models = self.model_names()
        return Record(
            id=item.id, instruction=instruction, response=response, response_source=source,
            response_model=models[source], metadata=item.source.metadata, metadata_origin=item.source.origin,
            iteration=len(history), actions=list(applied),
            strong_response=contrast.strong_response if contrast else response,
            target_response=contrast.target_response if contrast else None,
            judge=contrast.verdict if contrast else None, gap=contrast.verdict.gap if contrast else None,
            theta=self.config.theta, decision=history[-1].decision, history=history, models=models,
            templates=self.templates, program=self.config.name,
        )

    def failure(self, outcome: Outcome) -> Dropped:
        item = outcome.item
        return Dropped(
            id=item.id, stage=outcome.stage or "unknown", kind="failed", reason=outcome.error or "",
            instruction=getattr(item, "instruction", None) or getattr(item, "text", None),
            metadata=getattr(item, "metadata", None) or getattr(getattr(item, "source", None), "metadata", None),
            program=self.config.name,
        )

    def model_names(self) -> dict[str, str]:
        f = self.contrastive_filter
        return {"strong": f.respond_strong.model_name or "?", "target": f.respond_target.model_name or "?", "judge": f.judge.model_name or "?"}


def _last(items: list[str]) -> str | None:
    return items[-1] if items else None
