"""CRR evaluation (paper Sec. 4.1): candidate and reference answer a benchmark, the judge compares them.

Every item counts: an item nobody could judge (an answer or the judgment could not be had, or an
answer failed its guard) is a loss for the candidate, reported as failed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dspy

from codeclm.models.config import ModelSpec, ProgramConfig, load_config
from codeclm.errors import CodecLMError, ConfigError, StepError
from codeclm.evaluation.benchmarks import BenchmarkItem, load_benchmark, resolve
from codeclm.evaluation.leakage import check_seeds
from codeclm.evaluation.results import NOT_APPLICABLE, EvalReport, ItemJudgment
from codeclm.evaluation.resume import read_judgments, reusable, verdict_settings
from codeclm.evaluation.rules import RULES, item_outcome, order_outcome
from codeclm.executors import Executor, ThreadExecutor
from codeclm.output.fingerprint import model_identity
from codeclm.output.jsonl import write_atomic
from codeclm.models.calibrations import find_check, record_places
from codeclm.judging.schemes import SCHEMES, make_judge
from codeclm.models.roles import role_specs
from codeclm.programs.session import open_program
from codeclm.steps.respond import Respond


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

    def forward(self, item: BenchmarkItem, models: dict[str, str], settings: dict) -> ItemJudgment:
        """One item; whoever cannot answer makes it a failed item (a loss), never a failed run. An endpoint
        failure is raised (as a StepError naming candidate / reference / judge), so a dead endpoint stops the eval."""
        result = self.blank(item, models, settings)
        side = "candidate"
        try:
            candidate = self.respond_candidate(instruction=item.instruction, key=item.id)
            side = "reference"
            reference = self.respond_reference(instruction=item.instruction, key=item.id)
            result.candidate_response, result.reference_response = candidate.text, reference.text
            result.guards = {"candidate": candidate.guard, "reference": reference.guard}
            for side, answer in (("candidate", candidate), ("reference", reference)):
                if not answer.usable:  # a cut-off, empty, refusing or looping answer cannot be judged
                    return failed(result, side, f"{side} answer {answer.guard.replace('_', ' ')}")
            side = "judge"
            result.verdict = self.judge(instruction=item.instruction, strong=reference.text, target=candidate.text, key=item.id)
        except StepError as exc:
            if exc.endpoint_failure:
                raise StepError(side, str(exc), endpoint_failure=True) from None
            return failed(result, side, str(exc))
        return score(result, self.rule)

    def blank(self, item: BenchmarkItem, models: dict[str, str], settings: dict) -> ItemJudgment:
        """The item's judgment before anything is known."""
        return ItemJudgment(id=item.id, category=item.category, instruction=item.instruction, rule=self.rule,
                            models=models, settings=settings)


def failed(item: ItemJudgment, side: str, reason: str) -> ItemJudgment:
    """`item` as a loss for the candidate because `side` could not answer (`reason`)."""
    return item.model_copy(update={"failed": side, "error": reason, "order_outcomes": [], "outcome": "loss"})


def score(item: ItemJudgment, rule: str) -> ItemJudgment:
    """Per-order outcomes for the candidate and the item's outcome under `rule`; a pointwise verdict (one
    rating per answer, no orders) gives one outcome and no rule applies."""
    orders = [order_outcome(o.target, o.strong) for o in item.verdict.orders]
    if len(orders) == 1:
        return item.model_copy(update={"order_outcomes": orders, "outcome": orders[0], "rule": NOT_APPLICABLE})
    return item.model_copy(update={"order_outcomes": orders, "outcome": item_outcome(orders, rule), "rule": rule})


def default_out(benchmark: str, candidate: str, reference: str) -> Path:
    slug = "__".join(re.sub(r"[^A-Za-z0-9.-]+", "-", part).strip("-") for part in (benchmark, candidate, "vs", reference))
    return Path("data") / "eval" / f"{slug}.jsonl"


def evaluate(benchmark: str, candidate: str, reference: str = "strong", judge: str = "judge", *,
             program: str | Path = "codeclm", overrides: list[str] | None = None,
             limit: int | None = None, field: str | None = None, input_field: str | None = None,
             category_field: str | None = None, rule: str | None = None, out: str | Path | None = None,
             seed: int = 0, bootstrap: int = 1000, confidence: float = 0.95,
             api_base: str | None = None, api_key_env: str | None = None, scheme: str | None = None,
             lms: dict[str, dspy.BaseLM] | None = None, executor: Executor | None = None,
             unverified: bool = False) -> EvalReport:
    """Evaluate `candidate` against `reference` on `benchmark`; write per-item JSONL and return the report.

    benchmark: a bundled set (its test split; `vicuna:all`, `self_instruct:seed` name others) or a file.
    candidate / reference / judge: 'strong', 'target', 'judge' (roles of `program`), 'local:NAME', or a model id
    (`api_base` / `api_key_env` apply to model ids). `lms` (keys candidate/reference/judge) replaces them, e.g. fakes.
    rule: 'paper' (default) or 'alpagasus' for a both-orders scheme; a pointwise scheme has none (ConfigError if given).
    Items judged in `out` with the same settings are reused (a rerun never pays twice); others are judged again.
    The judge must have passed `codeclm judge check` with this scheme (recorded beside the program), else
    EvalUnverifiedError before any model starts; `unverified` judges anyway and labels the figure so.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit {limit}: out of range; allowed: a whole number >= 1 (or no limit)")
    if bootstrap < 1:
        raise ConfigError(f"bootstrap {bootstrap}: out of range; allowed: a whole number >= 1 (1000 is usual)")
    config = load_config(program, overrides)
    scheme = eval_scheme(config, scheme)
    rule = eval_rule(scheme, rule)
    source = resolve(benchmark)
    seeds = check_seeds(config, source)
    name, items = load_benchmark(benchmark, field, input_field, category_field, limit)
    labels = {"candidate": candidate, "reference": reference, "judge": judge}
    specs = {role: model_spec(value, config, api_base, api_key_env) for role, value in labels.items()}
    models = {role: f"{labels[role]}={spec.label}" if labels[role] != spec.label else spec.label for role, spec in specs.items()}
    split = str(source.split.split) if source.split else None
    out_path = Path(out) if out else default_out(f"{name}-{split}" if split else name, models["candidate"], models["reference"])
    stored = read_judgments(out_path)  # a bad earlier file stops here, before any model starts: it reads no model
    unchecked = judge_unchecked(config, scheme, specs["judge"].label)
    if unchecked and not unverified and lms is None:  # given LMs (fakes, a caller's own) are the caller's to vouch for
        raise EvalUnverifiedError(f"{unchecked}; its CRR would be unverified. Fix: a judge whose check passes (`codeclm judge "
                                  f"check {config.source} --scheme {scheme} --set models.judge=...`), or --unverified for a "
                                  f"figure labelled unverified")
    prompts = config.prompt_library()
    respond_prompt, judge_prompt = prompts.render("respond"), prompts.render(SCHEMES[scheme].template)
    answering = config.answering.model_dump()
    judging = {"temperature": 0.0, "max_tokens": config.judging.max_tokens or SCHEMES[scheme].max_tokens}
    with open_program(config, lms={} if lms is None else lms) as session:  # engine only: eval binds its own roles
        bound = lms if lms is not None else bind(session, specs, scheme)
        settings = verdict_settings(scheme, {"respond": respond_prompt.sha256, "judge": judge_prompt.sha256},
                                    answering, judging, bound)
        previous, judged_again = reusable(stored, items, settings)
        judge_step = make_judge(scheme, judge_prompt, bound["judge"], max_attempts=config.max_attempts, **judging)
        evaluator = Evaluator(respond_prompt, judge_step, bound, rule=rule, answering=answering,
                              max_attempts=config.max_attempts)
        todo = [item for item in items if item.id not in previous]
        executor = executor or ThreadExecutor(config.concurrency)
        outcomes = executor.map("eval", lambda item: evaluator(item=item, models=models, settings=settings), todo)
        usage = session.engine.ledger.summary()
    fresh = {o.item.id: o.value if o.ok else failed(evaluator.blank(o.item, models, settings), o.stage, o.error) for o in outcomes}
    judged = [score(previous[i.id], rule) if i.id in previous else fresh[i.id] for i in items]
    _write(out_path, judged)
    same_judge = {role: model_identity(bound["judge"]) == model_identity(bound[role]) for role in ("reference", "candidate")}
    report = EvalReport.build(
        judged, confidence=confidence, samples=bootstrap, seed=seed, benchmark=name, split=split, rule=rule,
        outcome_kind="pointwise" if rule == NOT_APPLICABLE else "both_orders", judge_scheme=scheme,
        judge_is_reference=same_judge["reference"], judge_is_candidate=same_judge["candidate"],
        warnings=[f"the judge is also the {role} ({models['judge']}): it judges its own answers (self-preference "
                  f"bias); pass --judge another model" for role, same in same_judge.items() if same]
        + ([f"UNVERIFIED: {unchecked}"] if unchecked and unverified else []),
        seeds=seeds, settings=settings, reused=len(previous), judged_again=judged_again, items_path=str(out_path),
        usage=usage, **models)
    summary_path(out_path).write_text(report.model_dump_json(indent=2, exclude={"items"}) + "\n", encoding="utf-8")
    return report


class EvalUnverifiedError(CodecLMError):
    """The eval's judge has no passed filter check for its scheme."""


def judge_unchecked(config, scheme: str, judge: str) -> str | None:
    """Why `judge` under `scheme` is not verified (None when its recorded `codeclm judge check` passed)."""
    found = find_check(record_places(config), scheme, judge)
    if found is None:
        return f"judge {judge} under {scheme} has no filter check recorded beside {config.source}"
    if found.status != "passed":
        return f"judge {judge} under {scheme} did not pass its filter check ({found.date}: {found.line})"
    return None


def bind(session, specs: dict[str, ModelSpec], scheme: str) -> dict[str, dspy.BaseLM]:
    """The three roles' LMs on the session's engine; the judge's model (whichever role resolves it first) on a
    local server that returns generation log-probabilities when the scheme reads them."""
    judge_model = specs["judge"].model_dump_json() if SCHEMES[scheme].logprobs else None
    return {role: session.lm(role, spec, logprobs=spec.model_dump_json() == judge_model) for role, spec in specs.items()}


def eval_scheme(config: ProgramConfig, scheme: str | None) -> str:
    """The judging scheme of an eval: `scheme`, else the program's if it compares answers, else pointwise-logprob
    (target-loss measures the target alone and cannot compare a candidate with a reference)."""
    chosen = scheme or (config.judging.scheme if SCHEMES[config.judging.scheme].scores_with == "judge" else "pointwise-logprob")
    if chosen not in SCHEMES or SCHEMES[chosen].scores_with != "judge":
        names = ", ".join(name for name, scale in SCHEMES.items() if scale.scores_with == "judge")
        raise ConfigError(f"--scheme {chosen}: an eval needs a judge that compares two answers; choose one of {names}")
    return chosen


def eval_rule(scheme: str, rule: str | None) -> str:
    """The both-orders rule (default paper), or "n/a" for a pointwise scheme, where asking for one is an error."""
    if rule is not None and rule not in RULES:
        raise ConfigError(f"--rule {rule}: unknown rule; choose one of {', '.join(RULES)}")
    if SCHEMES[scheme].both_orders:
        return rule or "paper"
    if rule is not None:
        both = ", ".join(name for name, scale in SCHEMES.items() if scale.scores_with == "judge" and scale.both_orders)
        raise ConfigError(f"--rule {rule}: scheme {scheme} rates each answer alone (one outcome per item, no orders), "
                          f"so no both-orders rule applies; drop --rule, or judge both orders with --scheme {both}")
    return NOT_APPLICABLE


def summary_path(out: Path) -> Path:
    return out.with_name(out.stem + ".summary.json")


def _write(path: Path, items: list[ItemJudgment]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "".join(json.dumps(i.model_dump(mode="json"), ensure_ascii=False) + "\n" for i in items))


ROLE_NAMES = ("strong", "target", "judge")


def model_spec(value: str, config: ProgramConfig, api_base: str | None = None, api_key_env: str | None = None) -> ModelSpec:
    """A role of the program YAML, `local:NAME` (embedded model) or a model id (e.g. openai/gpt-4o-mini)."""
    if value in ROLE_NAMES:
        return role_specs(config)[value]
    if value.startswith("local:"):
        return ModelSpec(local=value.removeprefix("local:"))
    return ModelSpec(model=value, api_base=api_base, api_key_env=api_key_env)
