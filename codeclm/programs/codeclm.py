"""CodecLM as one DSPy program: `generate` is the paper's pipeline (Wang et al., 2024, Sec. 3)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import dspy

from codeclm.models.config import ProgramConfig
from codeclm.errors import StepError
from codeclm.steps.guards import GuardCounts, check_instruction
from codeclm.judging.schemes import SCHEMES, make_judge
from codeclm.judging.same_model import SameModelJudge
from codeclm.programs.base import DataProgram, Stages
from codeclm.programs.quota import drop_near_duplicates, fill_records, output_index
from codeclm.output.records import AnswerCheck, Attempt, Dropped, Record, Seed, content_id
from codeclm.models.roles import target_chat_template, target_is_strong
from codeclm.steps.signatures import Metadata
from codeclm.steps.contrast import Contrast, ContrastiveFilter, outcome
from codeclm.steps.decode import Decode
from codeclm.steps.encode import Encode
from codeclm.steps.enlarge import Enlarge
from codeclm.steps.generate import GenerateInstructions
from codeclm.steps.respond import Respond
from codeclm.steps.rubrics import Improve, Rubrics, SelfRubrics


@dataclass(frozen=True)
class MetadataItem:
    id: str
    metadata: Metadata | None
    origin: str
    seed_text: str | None = None  # the no-metadata ablation: instructions come from this seed directly


@dataclass(frozen=True)
class InstructionItem:
    id: str
    instruction: str
    source: MetadataItem
    rubrics: Rubrics | None = None  # made only once an instruction of this metadata is too easy
    rubrics_error: str | None = None  # Self-Rubrics failed for this metadata: no harder version can be made
    history: tuple[Attempt, ...] = ()  # the iterations already judged (an instruction waiting for its rubrics)


@dataclass(frozen=True)
class TooEasy:
    """An instruction the filter found too easy at iteration 1: it waits for its metadata's rubrics."""

    item: InstructionItem
    history: tuple[Attempt, ...]


def metadata_item(metadata: Metadata, origin: str) -> MetadataItem:
    return MetadataItem(content_id("m", metadata.key()), metadata, origin)


def instruction_item(source: MetadataItem, text: str) -> InstructionItem:
    return InstructionItem(f"{source.id}-{content_id('i', ' '.join(text.split()), length=8)}", text, source)


class CodecLM(DataProgram):
    """Encode seeds to metadata, enlarge, decode instructions, then Self-Rubrics + Contrastive Filtering."""

    def __init__(self, config: ProgramConfig, lms: dict[str, dspy.BaseLM | None] | None = None):
        super().__init__(config)
        lms = dict(lms or {})
        strong, target, judge = lms.get("strong"), lms.get("target"), lms.get("judge") or lms.get("strong")
        prompts, gen, answer = self.rendered, config.generation.model_dump(), config.answering.model_dump()
        common = {"max_attempts": config.max_attempts, "seed": config.seed}
        self.encode = Encode(prompts["encode"], strong, **common, **gen)
        self.enlarge = Enlarge(seed=config.seed, num_skills=config.num_skills)
        self.decode = Decode(prompts["decode"], strong, num_instructions=config.instructions_per_metadata, **common, **gen)
        self.rubrics = SelfRubrics(prompts["rubrics"], strong, num_rubrics=config.num_rubrics, **common, **gen)
        self.improve = Improve(prompts["improve"], strong, **common, **gen)
        judging, scale = config.judging, SCHEMES[config.judging.scheme]
        self.guard_counts = GuardCounts()
        self.contrastive_filter = ContrastiveFilter(
            respond_strong=Respond(prompts["respond"], strong, role="strong", ask_again_when_cut=True,
                                   counts=self.guard_counts, **common, **answer),
            respond_target=Respond(prompts["respond"], target, role="target", counts=self.guard_counts, **common, **answer),
            judge=SameModelJudge(judging.scheme, scale.scale) if target_is_strong(config) else
            make_judge(judging.scheme, prompts["judge"], target if scale.scores_with == "target" else judge,
                       max_attempts=config.max_attempts, temperature=judging.temperature,
                       max_tokens=judging.max_tokens, chat_template=target_chat_template(config)),
        )
        if not config.ablation.metadata:  # paper Table 3, "no metadata": instructions from each seed directly
            self.from_seeds = GenerateInstructions(prompts["self_instruct"], strong, num=config.instructions_per_metadata, **common, **gen)

    def template_names(self) -> dict[str, str]:
        names = {step: step for step in ("encode", "decode", "rubrics", "improve", "respond")}
        names["judge"] = SCHEMES[self.config.judging.scheme].template
        if not self.config.ablation.metadata:
            names["self_instruct"] = "self_instruct"
        return names

    quota_report: dict | None = None  # records: N runs (codeclm.programs.quota): kept / asked / yield per cell

    def generate(self, seeds: list[Seed], stages: Stages) -> None:
        """Encode -> enlarge -> decode -> Contrastive Filtering; Self-Rubrics for the metadata of instructions found
        too easy, then their improved versions under the filter, until kept or dropped at the cap. With `records: N`,
        in rounds until N are kept (codeclm.programs.quota)."""
        if self.config.records:
            fill_records(self, seeds, stages, too_easy_type=TooEasy, instruction_item=instruction_item, metadata_item=metadata_item)
            return
        if self.config.ablation.metadata:
            encoded = self.stage(stages, "encode", self.encode_seed, seeds)
            decoded = self.stage(stages, "decode", self.decode_metadata, self.metadata_pool(encoded))
        else:
            sources = [MetadataItem(s.id, None, f"seed:{s.id}", s.text) for s in seeds]
            decoded = self.stage(stages, "decode", self.generate_from_seed, sources)
        instructions = [instruction_item(o.item, text) for o in decoded for text in o.value]
        instructions = drop_near_duplicates(self, stages, instructions, output_index(stages.prior))
        too_easy: list[TooEasy] = []
        self.final_stage(stages, "filter", self.evolve, instructions, pending=too_easy.append)
        if too_easy:
            pool = list({t.item.source.id: t.item.source for t in too_easy}.values())
            rubrics = self.rubrics_for(stages, pool)
            waiting = [replace(t.item, history=t.history, rubrics=rubrics[t.item.source.id][0],
                               rubrics_error=rubrics[t.item.source.id][1]) for t in too_easy]
            self.final_stage(stages, "improve", self.evolve, waiting)

    @property
    def improves(self) -> bool:
        """Whether a too-easy instruction can loop back through Self-Rubrics."""
        return self.config.ablation.self_rubrics and self.config.max_iterations >= 2

    def encode_seed(self, seed: Seed) -> Metadata:
        return self.encode(instruction=seed.text, key=seed.id)

    def decode_metadata(self, item: MetadataItem) -> list[str]:
        return self.decode(metadata=item.metadata, key=item.id)

    def write_rubrics(self, item: MetadataItem) -> Rubrics:
        return self.rubrics(metadata=item.metadata, key=item.id)

    def generate_from_seed(self, item: MetadataItem) -> list[str]:
        return self.from_seeds(examples=[item.seed_text], key=item.id)

    def metadata_pool(self, encoded) -> list[MetadataItem]:
        """Metadata enlargement: encoded metadata first, then mix-and-match up to `num_metadata`."""
        origin = {o.value.key(): f"encoded:{o.item.id}" for o in reversed(encoded)}
        enlarged = self.enlarge(metadata=[o.value for o in encoded], n=self.config.num_metadata)
        return [metadata_item(m, origin.get(m.key(), "enlarged")) for m in enlarged]

    def rubrics_for(self, stages: Stages, pool: list[MetadataItem]) -> dict[str, tuple[Rubrics | None, str | None]]:
        """Self-Rubrics once per metadata that needs it; a failure is kept with its reason."""
        outcomes = stages.executor.map("rubrics", self.write_rubrics, pool,
                                       on_outcome=lambda o: o.ok or stages.sink.drop(self.failure(o)))
        return {o.item.id: (o.value, None) if o.ok else (None, o.error) for o in outcomes}

    def evolve(self, item: InstructionItem) -> Record | Dropped | TooEasy:
        """Self-Rubrics iterations under Contrastive Filtering, until kept, or dropped at the cap. An instruction
        without rubrics yet that is too easy returns TooEasy: `generate` makes its metadata's rubrics once, then
        calls this again, from iteration 2."""
        cfg, history = self.config, list(item.history)
        applied = [a.action for a in history if a.action]
        if item.rubrics_error:
            raise StepError("rubrics", f"too easy at iteration {len(history)}, and no harder version can be made: "
                                       f"Self-Rubrics failed for metadata {item.source.id} ({item.rubrics_error}); retried next run")
        actions = item.rubrics.action_order(cfg.seed, item.id) if item.rubrics else []
        max_iterations = min(cfg.max_iterations, 1 + len(actions)) if item.rubrics else (cfg.max_iterations if self.improves else 1)
        instruction = history[-1].instruction if history else item.instruction
        for iteration in range(len(history) + 1, max_iterations + 1):
            key, rubric = f"{item.id}/{iteration}", None
            if iteration > 1:
                action = actions[iteration - 2]
                rubric = item.rubrics.rubric_for(action)
                instruction = self.improve(instruction=instruction, metadata=item.source.metadata, action=action, key=key)
                applied.append(action)
            attempt = Attempt(iteration=iteration, instruction=instruction, action=_last(applied), rubric=rubric, decision="")
            if not cfg.ablation.contrastive_filtering:
                problem = check_instruction(instruction)
                strong = self.contrastive_filter.respond_strong(instruction=instruction, key=key) if problem == "ok" else None
                if strong is None or not strong.usable:
                    return self.guarded(item, attempt, Contrast(instruction_guard=problem, strong=strong), history)
                history.append(attempt.model_copy(update={"decision": "kept (filter off)"}))
                return self.record(item, instruction, "strong", Contrast(strong=strong), history, applied)
            contrast = self.contrastive_filter(instruction=instruction, key=key)
            decision = outcome(contrast, cfg.theta, iteration, max_iterations)
            if contrast.verdict is None:
                return self.guarded(item, attempt, contrast, history)
            history.append(attempt.model_copy(update={"gap": contrast.verdict.gap, "decision": decision.reason}))
            if decision.action == "keep_strong":
                return self.record(item, instruction, "strong", contrast, history, applied)
            if decision.action == "keep_target":
                return self.record(item, instruction, "target", contrast, history, applied)
            if decision.action == "drop":
                break
            if not item.rubrics:
                return TooEasy(item, tuple(history))
        return Dropped(
            id=item.id, stage="filter", kind="filtered", reason=history[-1].decision, instruction=instruction,
            metadata=item.source.metadata, metadata_origin=item.source.origin, iteration=len(history), history=history,
            program=cfg.name,
        )

    def record(self, item, instruction, source, contrast: Contrast, history, applied) -> Record:
        models = self.model_names()
        answers = {"strong": contrast.strong, **({"target": contrast.target} if contrast.target else {})}
        return Record(
            id=item.id, instruction=instruction, response=answers[source].text, response_source=source,
            response_model=models[source], metadata=item.source.metadata, metadata_origin=item.source.origin,
            iteration=len(history), actions=list(applied),
            strong_response=contrast.strong.text, target_response=contrast.target.text if contrast.target else None,
            answers={role: AnswerCheck.of(a) for role, a in answers.items()},
            judge=contrast.verdict, gap=contrast.verdict.gap if contrast.verdict else None,
            theta=self.config.theta, decision=history[-1].decision, history=history, models=models,
            templates=self.templates, program=self.config.name, tuned=self.tuned,
        )

    def guarded(self, item, attempt: Attempt, contrast: Contrast, history) -> Dropped:
        """An instruction that failed its guard, or whose strong answer did: dropped with the guard as the reason,
        never answered (an unanswerable instruction) or never kept (a bad answer). Its history ends with this
        attempt (its action and rubric included), whose decision is the guard's reason."""
        strong = contrast.strong
        if contrast.instruction_guard != "ok":
            self.guard_counts.add_guard("instruction", contrast.instruction_guard, key=f"{item.id}/{attempt.iteration}")
            reason = f"instruction {contrast.instruction_guard.replace('_', ' ')}: not answered"
        else:
            cap = f" at {strong.completion_tokens} tokens (cap {strong.max_tokens}, asked again with twice that)" if strong.guard == "cut_off" else ""
            reason = f"strong answer {strong.guard.replace('_', ' ')}{cap}"
        return Dropped(
            id=item.id, stage="guard", kind="filtered", reason=reason,
            instruction=attempt.instruction, metadata=item.source.metadata, metadata_origin=item.source.origin,
            iteration=attempt.iteration, history=[*history, attempt.model_copy(update={"decision": reason})],
            program=self.config.name,
        )

    def model_names(self) -> dict[str, str]:
        f = self.contrastive_filter
        return {"strong": f.respond_strong.model_name or "?", "target": f.respond_target.model_name or "?", "judge": f.judge.model_name or "?"}


def _last(items: list[str]) -> str | None:
    return items[-1] if items else None
