"""CRR evaluation (paper Sec. 4.1): candidate and reference answer a benchmark, the judge compares both orders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dspy

from codeclm.config import ModelSpec, ProgramConfig, load_config
from codeclm.errors import StepError
from codeclm.evaluation.benchmarks import BenchmarkItem, load_benchmark
from codeclm.evaluation.results import EvalReport, ItemJudgment
from codeclm.evaluation.rules import RULES, item_outcome, order_outcome
from codeclm.executors import Executor, ThreadExecutor
from codeclm.jsonl import read_rows, write_atomic
from codeclm.session import open_program
from codeclm.judging.scales import SCALES
from codeclm.judging.schemes import make_judge
from codeclm.steps.respond import Respond
from codeclm.templates import PromptLibrary


class Evaluator(dspy.Module):
    """Both models answer through the same Respond step; the same Judge step as Contrastive Filtering compares.

    The judge sees the reference in the Judge's `strong` slot and the candidate in its `target` slot.
    """

    def __init__(self, respond_prompt, judge: dspy.Module, lms: dict[str, dspy.BaseLM], *, answering: dict,
                 max_attempts: int, rule: str):
        super().__init__()
        self.respond_candidate = Respond(respond_prompt, lms["candidate"], role="candidate", max_attempts=max_attempts, **answering)
        self.respond_reference = Respond(respond_prompt, lms["reference"], role="reference", ask_again_when_cut=True,
                                         max_attempts=max_attempts, **answering)
        self.judge = judge
        self.rule = rule

    def forward(self, item: BenchmarkItem, models: dict[str, str]) -> ItemJudgment:
        """One item; an unparseable answer or judgment marks this item (error), never the run."""
        result = ItemJudgment(id=item.id, category=item.category, instruction=item.instruction, rule=self.rule, models=models)
        try:
            candidate = self.respond_candidate(instruction=item.instruction, key=item.id)
            reference = self.respond_reference(instruction=item.instruction, key=item.id)
            result.candidate_response, result.reference_response = candidate.text, reference.text
            result.guards = {"candidate": candidate.guard, "reference": reference.guard}
            if not reference.usable:
                result.error = f"reference answer {reference.guard.replace('_', ' ')}"
                return result
            if not candidate.usable:  # a cut-off, empty, refusing or looping answer loses without a judge
                return result.model_copy(update={"order_outcomes": ["loss", "loss"], "outcome": "loss"})
            result.verdict = self.judge(instruction=item.instruction, strong=reference.text, target=candidate.text, key=item.id)
        except StepError as exc:
            result.error = str(exc)
            return result
        return score(result, self.rule)


def score(item: ItemJudgment, rule: str) -> ItemJudgment:
    """Per-order outcomes for the candidate and the item's outcome under `rule`."""
    orders = [order_outcome(o.target, o.strong) for o in item.verdict.orders]
    if len(orders) == 1:  # pointwise schemes rate each answer alone: one outcome, whatever the order
        orders = orders * 2
    return item.model_copy(update={"order_outcomes": orders, "outcome": item_outcome(orders, rule), "rule": rule})


def default_out(benchmark: str, candidate: str, reference: str) -> Path:
    slug = "__".join(re.sub(r"[^A-Za-z0-9.-]+", "-", part).strip("-") for part in (benchmark, candidate, "vs", reference))
    return Path("data") / "eval" / f"{slug}.jsonl"


def evaluate(benchmark: str, candidate: str, reference: str = "strong", judge: str = "judge", *,
             program: str | Path = "programs/codeclm.yaml", overrides: list[str] | None = None,
             limit: int | None = None, field: str | None = None, input_field: str | None = None,
             category_field: str | None = None, rule: str = "paper", out: str | Path | None = None,
             seed: int = 0, bootstrap: int = 1000, confidence: float = 0.95,
             api_base: str | None = None, api_key_env: str | None = None, scheme: str | None = None,
             lms: dict[str, dspy.BaseLM] | None = None, executor: Executor | None = None) -> EvalReport:
    """Evaluate `candidate` against `reference` on `benchmark`; write per-item JSONL and return the report.

    candidate / reference / judge: 'strong', 'target', 'judge' (roles of `program`), 'local:NAME', or a model id
    (`api_base` / `api_key_env` apply to model ids). `lms` (keys candidate/reference/judge) replaces them, e.g. fakes.
    Items already judged in `out` by the same models are reused (a rerun never pays twice).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule '{rule}'; choose one of {', '.join(RULES)}")
    config = load_config(program, overrides)
    name, items = load_benchmark(benchmark, field, input_field, category_field, limit)
    labels = {"candidate": candidate, "reference": reference, "judge": judge}
    specs = {role: model_spec(value, config, api_base, api_key_env) for role, value in labels.items()}
    models = {role: f"{labels[role]}={spec.label}" if labels[role] != spec.label else spec.label for role, spec in specs.items()}
    out_path = Path(out) if out else default_out(name, models["candidate"], models["reference"])
    previous = _previous(out_path, models)
    prompts = PromptLibrary(config.resolve(config.prompts), config.template_variables())
    with open_program(config, lms={} if lms is None else lms) as session:  # engine only: eval binds its own roles
        bound = lms if lms is not None else {role: session.lm(role, spec) for role, spec in specs.items()}
        scheme = eval_scheme(config, scheme)
        judge_step = make_judge(scheme, prompts.render(SCALES[scheme].template), bound["judge"],
                                max_attempts=config.max_attempts, temperature=0.0,
                                max_tokens=config.judging.max_tokens)  # the filter's scheme, at temperature 0
        evaluator = Evaluator(prompts.render("respond"), judge_step, bound, rule=rule,
                              answering=config.answering.model_dump(), max_attempts=config.max_attempts)
        todo = [item for item in items if item.id not in previous]
        executor = executor or ThreadExecutor(config.concurrency)
        outcomes = executor.map("eval", lambda item: evaluator(item=item, models=models), todo)
    fresh = {o.item.id: o.value if o.ok else ItemJudgment(id=o.item.id, category=o.item.category, instruction=o.item.instruction,
                                                          rule=rule, error=o.error, models=models) for o in outcomes}
    judged = [score(previous[i.id], rule) if i.id in previous else fresh[i.id] for i in items]
    _write(out_path, judged)
    report = EvalReport.build(judged, confidence=confidence, samples=bootstrap, seed=seed, benchmark=name, rule=rule,
                              judge_scheme=evaluator.judge.scheme, items_path=str(out_path), **models)
    summary_path(out_path).write_text(report.model_dump_json(indent=2, exclude={"items"}) + "\n", encoding="utf-8")
    return report


def eval_scheme(config: ProgramConfig, scheme: str | None) -> str:
    """The judging scheme of an eval: `scheme`, else the program's if it compares answers, else pointwise-logprob
    (target-loss measures the target alone and cannot compare a candidate with a reference)."""
    chosen = scheme or (config.judging.scheme if SCALES[config.judging.scheme].scores_with == "judge" else "pointwise-logprob")
    if chosen not in SCALES or SCALES[chosen].scores_with != "judge":
        names = ", ".join(name for name, scale in SCALES.items() if scale.scores_with == "judge")
        raise ValueError(f"--scheme {chosen}: an eval needs a judge that compares two answers; choose one of {names}")
    return chosen


def summary_path(out: Path) -> Path:
    return out.with_name(out.stem + ".summary.json")


def _previous(path: Path, models: dict[str, str]) -> dict[str, ItemJudgment]:
    """Judged items of an earlier run with the same three models (errors are retried)."""
    if not path.exists():
        return {}
    rows = [ItemJudgment.model_validate(row) for row in read_rows(path)]
    return {r.id: r for r in rows if r.verdict is not None and r.error is None and r.models == models}


def _write(path: Path, items: list[ItemJudgment]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "".join(json.dumps(i.model_dump(mode="json"), ensure_ascii=False) + "\n" for i in items))


ROLE_NAMES = ("strong", "target", "judge")


def model_spec(value: str, config: ProgramConfig, api_base: str | None = None, api_key_env: str | None = None) -> ModelSpec:
    """A role of the program YAML, `local:NAME` (embedded model) or a model id (e.g. openai/gpt-4o-mini)."""
    if value in ROLE_NAMES:
        from codeclm.roles import role_specs

        return role_specs(config)[value]
    if value.startswith("local:"):
        return ModelSpec(local=value.removeprefix("local:"))
    return ModelSpec(model=value, api_base=api_base, api_key_env=api_key_env)
