"""`codeclm optimize`: tune one step's prompt for the target LLM with a DSPy optimizer, save the whole program.

CodecLM wants instructions the *target* cannot do yet, so the metric needs no labels: a
generated instruction scores by the program's own Contrastive Filtering (strong and target
answer it, the configured judge compares the answers in both orders), the gap normalized
to [0, 1] on the judging scheme's scale. Supported steps:

- `decode`  (metadata -> instructions): mean over the `instructions_per_metadata` slots of
  clip(gap / gap_max, 0, 1); a slot without a valid instruction (the step's own validation)
  scores 0. A trace passes (becomes a demo) when the score > theta / gap_max.
- `improve` (instruction, metadata, action -> harder instruction): clip(gap / gap_max, 0, 1)
  of the improved instruction, 0 when it is not a valid instruction; passes when gap > theta.
- `respond` (the strong role's answer): the judged preference of the strong answer over the
  target's, (1 + gap / gap_max) / 2; passes when gap > theta.

`encode`, `rubrics` and `judge` are refused: they have no label-free metric here (the judge
is the metric). See docs/optimize.md.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy
from rich.console import Console
from rich.table import Table

from codeclm.config import ProgramConfig, load_config
from codeclm.errors import CodecLMError, StepError
from codeclm.executors import Executor as Runner, ThreadExecutor
from codeclm.judging.scales import SCALES
from codeclm.programs import CodecLM
from codeclm.records import Seed
from codeclm.seeds import read_seeds
from codeclm.session import open_program
from codeclm.tuned import save_tuned

STEPS = ("decode", "improve", "respond")
OPTIMIZERS = ("bootstrap", "mipro-light")
REFUSED = {
    "encode": "no label-free metric for metadata",
    "rubrics": "no label-free metric for rubrics",
    "judge": "the judge is the metric itself",
    "enlarge": "it has no prompt (no LLM)",
}


class OptimizeError(CodecLMError):
    """An optimization that cannot run: unsupported step or optimizer, too few examples, missing extra."""


# ---- The step under optimization, as a module a DSPy optimizer can run --------------------------------


class StepProgram(dspy.Module):
    """Wraps one CodecLM step: returns Prediction(output=..., error=...) instead of raising.

    Only the step's last (validated) predictor call stays in DSPy's trace, so a re-asked,
    rejected answer never becomes a demo; the metric's own calls are never traced.
    """

    def __init__(self, step: dspy.Module):
        super().__init__()
        self.step = step

    def deepcopy(self) -> "StepProgram":
        """Optimizers copy the program: copy the prompts, share the step's LM (a client with a cache, not a parameter)."""
        lm = getattr(self.step, "lm", None)
        return copy.deepcopy(self, {id(lm): lm} if lm is not None else {})

    def forward(self, **inputs: Any) -> dspy.Prediction:
        trace = dspy.settings.trace
        start = len(trace) if trace is not None else 0
        try:
            output, error = self.step(**inputs), None
        except StepError as exc:
            output, error = None, str(exc)
        if trace is not None:
            mine = [entry for entry in trace[start:] if entry[0] is self.step.predict]
            del trace[start:]
            if error is None and mine:
                trace.append(mine[-1])
        return dspy.Prediction(output=output, error=error)


# ---- Metric -----------------------------------------------------------------------------------------


class ContrastMetric:
    """Label-free metric from the program's ContrastiveFilter; float in [0, 1], bool when bootstrapping.

    DSPy calls metric(example, prediction, trace): with a trace (bootstrapping demos) it
    returns whether the score passes `threshold`, else the score.
    """

    def __init__(self, program: CodecLM, step: str):
        config = program.config
        self.program, self.step = program, step
        self.scale = SCALES[config.judging.scheme]
        self.theta = config.theta
        self.slots = config.instructions_per_metadata if step == "decode" else 1
        if step == "respond":
            self.threshold = (1 + self.theta / self.scale.gap_max) / 2
        else:
            self.threshold = self.theta / self.scale.gap_max

    def __call__(self, example: dspy.Example, prediction: dspy.Prediction, trace=None) -> float | bool:
        score = self.score(example, prediction)
        return score > self.threshold if trace is not None else score

    def score(self, example: dspy.Example, prediction: dspy.Prediction) -> float:
        if prediction is None or prediction.get("error") or prediction.get("output") is None:
            return 0.0
        with dspy.context(trace=None):  # the filter's calls are not demos of the tuned step
            if self.step == "respond":
                gap = self._respond_gap(example.instruction, prediction.output, example.key)
                return 0.0 if gap is None else (1 + gap / self.scale.gap_max) / 2
            outputs = prediction.output if isinstance(prediction.output, list) else [prediction.output]
            total = 0.0
            for j, instruction in enumerate(outputs[: self.slots]):
                gap = self.gap(instruction, f"{example.key}/opt-i{j}")
                total += 0.0 if gap is None else min(max(gap / self.scale.gap_max, 0.0), 1.0)
            return total / self.slots

    def gap(self, instruction: str, key: str) -> float | None:
        """Strong - target gap of one instruction (both answers, both orders); None when the filter fails."""
        try:
            verdict = self.program.contrastive_filter(instruction=instruction, key=key).verdict
            return None if verdict is None else verdict.gap
        except StepError:
            return None

    def _respond_gap(self, instruction: str, strong: str, key: str) -> float | None:
        f = self.program.contrastive_filter
        try:
            target = f.respond_target(instruction=instruction, key=key) if f.judge.needs_target_answer else None
            return f.judge(instruction=instruction, strong=getattr(strong, "text", strong), target=target.text if target else None,
                           key=f"{key}/opt").gap
        except StepError:
            return None


# ---- Trainset: from the program's own seeds -----------------------------------------------------------


def step_module(program: CodecLM, step: str) -> dspy.Module:
    return program.contrastive_filter.respond_strong if step == "respond" else getattr(program, step)


def metadata_items(program: CodecLM, seeds: list[Seed], n: int, runner: Runner) -> list[tuple[str, Any]]:
    """Encode the seeds (the run's encode calls, so cached) and enlarge to `n` metadata, shuffled."""
    encoded = runner.map("encode", lambda s: program.encode(instruction=s.text, key=s.id), seeds)
    ok = [o.value for o in encoded if o.ok]
    if not ok:
        errors = "; ".join(o.error or "" for o in encoded)[:300]
        raise OptimizeError(f"no seed could be encoded, so there is no trainset: {errors}")
    pool = program.enlarge(metadata=ok, n=n)
    items = [(f"opt-m{i}", m) for i, m in enumerate(pool)]
    random.Random(program.config.seed).shuffle(items)
    return items


def examples_for(program: CodecLM, step: str, items: list[tuple[str, Any]], runner: Runner) -> list[dspy.Example]:
    """Examples of `step` built from metadata items: decode needs metadata; improve and respond need instructions."""
    if step == "decode":
        return [dspy.Example(metadata=m, key=key).with_inputs("metadata", "key") for key, m in items]
    decoded = runner.map("decode", lambda it: program.decode(metadata=it[1], key=it[0]), items)
    ok = [o for o in decoded if o.ok]
    if step == "respond":
        return [
            dspy.Example(instruction=text, key=f"{o.item[0]}-i{j}").with_inputs("instruction", "key")
            for o in ok for j, text in enumerate(o.value)
        ]
    rubrics = runner.map("rubrics", lambda o: program.rubrics(metadata=o.item[1], key=o.item[0]), ok)
    examples = []
    for r in rubrics:
        if not r.ok:
            continue
        (key, metadata), instructions = r.item.item, r.item.value
        for j, text in enumerate(instructions):
            action = r.value.action_order(program.config.seed, f"{key}-i{j}")[0]
            examples.append(
                dspy.Example(instruction=text, metadata=metadata, action=action, key=f"{key}-i{j}/2")
                .with_inputs("instruction", "metadata", "action", "key")
            )
    return examples


def split(items: list, train: int, heldout: int) -> tuple[list, list]:
    """First `heldout` for evaluation, the next `train` for the optimizer; proportional when short."""
    if len(items) < train + heldout:
        heldout = max(1, round(len(items) * heldout / (train + heldout)))
    if len(items) - heldout < 1:
        raise OptimizeError(f"only {len(items)} metadata from the seeds: need at least 2 (add seeds or skills)")
    return items[heldout : heldout + train], items[:heldout]


# ---- Optimizers -------------------------------------------------------------------------------------


def make_optimizer(name: str, metric: ContrastMetric, lm: dspy.BaseLM | None, config: ProgramConfig, demos: int):
    if name == "bootstrap":
        # No labeled demos: our examples are inputs only (metadata / instructions), not answers.
        return dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=demos, max_labeled_demos=0, max_rounds=1)
    if name == "mipro-light":
        try:
            import optuna  # noqa: F401
        except ModuleNotFoundError:
            raise OptimizeError("--optimizer mipro-light needs optuna: pip install 'codeclm[optimize]'") from None
        return dspy.MIPROv2(
            metric=metric, prompt_model=lm, task_model=lm, auto="light", max_bootstrapped_demos=demos,
            max_labeled_demos=0, num_threads=config.concurrency, seed=config.seed, verbose=False,
        )
    raise OptimizeError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


def check_step(step: str, config: ProgramConfig) -> None:
    if step not in STEPS:
        why = REFUSED.get(step, "not a step of the program")
        raise OptimizeError(f"cannot optimize step {step!r} ({why}); supported: {', '.join(STEPS)}")
    if config.program != "codeclm":
        raise OptimizeError(f"optimize tunes CodecLM programs; {config.name} is program: {config.program}")
    if not config.ablation.metadata:
        raise OptimizeError("optimize needs metadata (ablation.metadata: true): decode/improve/respond are built from it")


@dataclass
class OptimizeResult:
    step: str
    optimizer: str
    out: Path
    before: list[float]
    after: list[float]
    threshold: float
    train_size: int
    demos: int

    def mean(self, scores: list[float]) -> float:
        return sum(scores) / len(scores) if scores else 0.0

    def passed(self, scores: list[float]) -> float:
        return sum(s > self.threshold for s in scores) / len(scores) if scores else 0.0


def score_examples(module: dspy.Module, examples: list[dspy.Example], metric: ContrastMetric, runner: Runner) -> list[float]:
    task = StepProgram(module)
    outcomes = runner.map("evaluate", lambda ex: metric(ex, task(**ex.inputs())), examples)
    return [o.value if o.ok else 0.0 for o in outcomes]


def optimize(
    config: ProgramConfig, step: str, *, optimizer: str = "bootstrap", trainset: int = 12, heldout: int | None = None,
    out: str | Path | None = None, tuned: str | Path | None = None, demos: int = 4, seeds_path: str | None = None,
    lms: dict[str, Any] | None = None, console: Console | None = None,
) -> OptimizeResult:
    """Tune `step` of the program in `config` with `optimizer`; save the whole program to `out`.

    `tuned` starts from an earlier tuned program (tune steps one after another).
    """
    check_step(step, config)
    if optimizer not in OPTIMIZERS:
        raise OptimizeError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    console = console or Console(stderr=True)
    heldout = heldout if heldout is not None else max(2, trainset // 2)
    out = Path(out) if out else config.base_dir / f"{config.name}.tuned.json"
    seeds = read_seeds(seeds_path or config.resolve(config.seeds.path), config.seeds.field, config.seeds.input_field, config.seeds.limit)
    runner = ThreadExecutor(config.concurrency)
    with open_program(config, lms=lms, tuned=tuned) as session:
        program = session.program
        lms = session.lms
        metric = ContrastMetric(program, step)
        items = metadata_items(program, seeds, trainset + heldout, runner)
        train_items, test_items = split(items, trainset, heldout)
        train, test = examples_for(program, step, train_items, runner), examples_for(program, step, test_items, runner)
        if not train or not test:
            raise OptimizeError(f"no {step} examples could be built from the seeds (train {len(train)}, held out {len(test)})")
        console.print(f"[bold]optimize[/] {step} with {optimizer}: {len(train)} train / {len(test)} held-out examples, "
                      f"metric on {config.judging.scheme} (theta {config.theta:g}, gap_max {metric.scale.gap_max:g})")
        module = step_module(program, step)
        before = score_examples(module, test, metric, runner)
        compiled = _compile(optimizer, module, train, metric, lms.get("strong"), config, demos)
        _put_back(module, compiled.step, keep_template_demos=optimizer == "bootstrap")
        after = score_examples(module, test, metric, runner)
        save_tuned(program, out)
    result = OptimizeResult(step, optimizer, out, before, after, metric.threshold, len(train), len(module.predict.demos))
    print_result(result, console)
    return result


def _compile(optimizer: str, module: dspy.Module, train: list, metric: ContrastMetric, lm, config: ProgramConfig, demos: int) -> StepProgram:
    teleprompter = make_optimizer(optimizer, metric, lm, config, demos)
    return teleprompter.compile(StepProgram(module), trainset=train)


def _put_back(module: dspy.Module, tuned: dspy.Module, keep_template_demos: bool) -> None:
    """The tuned instructions and demos into the program's own step (which keeps its LM)."""
    template = list(module.predict.demos)
    module.predict.signature = tuned.predict.signature
    demos = list(tuned.predict.demos)
    if keep_template_demos:
        demos += [d for d in template if d not in demos]
    module.predict.demos = demos


def print_result(result: OptimizeResult, console: Console) -> None:
    table = Table(title=f"optimize {result.step} ({result.optimizer})")
    table.add_column("held-out metric")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_row("mean (0-1)", f"{result.mean(result.before):.3f}", f"{result.mean(result.after):.3f}")
    table.add_row(f"passing (> {result.threshold:.3f})", f"{result.passed(result.before):.0%}", f"{result.passed(result.after):.0%}")
    table.add_row("held-out examples", str(len(result.before)), str(len(result.after)))
    table.add_row("train examples", str(result.train_size), "")
    console.print(table)
    console.print(f"{result.demos} demos on {result.step}; saved the tuned program: {result.out}", highlight=False)
    console.print(f"use it: codeclm run PROGRAM.yaml --tuned {result.out}", highlight=False)


def optimize_file(path: str, overrides: list[str] | None = None, **kwargs: Any) -> OptimizeResult:
    return optimize(load_config(path, overrides), **kwargs)

