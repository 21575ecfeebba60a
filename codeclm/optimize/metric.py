"""The optimization metric: how good a generated instruction is as training data for THIS target.

Per instruction, three parts in [0, 1], weighed by `optimize.weights` (normalized by their sum):

- contrast: the program's own Contrastive Filtering gap on the configured scheme (target-loss
  by default: the target's mean loss on the strong answer's new words), scaled as
  clip(gap / (2 theta), 0, 1): 0 for gap <= 0, 0.5 at the filter's threshold theta, 1 from
  2 theta on. Failing harder earns nothing more, so beyond that only fit and validity count.
- fit: the instruction re-encodes to metadata of the benchmark's distribution
  (codeclm.optimize.fit).
- validity: an instruction, not an answer; within length bounds; not a near-duplicate of
  another generated instruction or of a demo (codeclm.optimize.validity).

Gates that make an instruction's whole score 0: it copies a held-out or test item
(codeclm.optimize.leakage; flagged in the report); the strong answer fails its guard (cut
off at the token cap even after the re-ask with twice the cap, empty, a refusal, degenerate
repetition: the program would drop the pair); it does not read as an instruction (no
answers are made for it). An example (one metadata) scores the mean over the
`instructions_per_metadata` slots its chain should fill; a missing instruction scores 0.

DSPy calls the metric as metric(example, prediction, trace): without a trace it returns the
score; with one (an optimizer deciding whether a run becomes a demo) it returns whether the
run *passes*: every slot filled, and each instruction unflagged, kept by the filter
(gap > theta), fully valid and with fit >= `optimize.demo_min_fit`. `for_gepa()` returns
dspy.Prediction(score=..., feedback=...) whose feedback says, per instruction, why it scored
low. Every call the metric makes goes through the program's engine (cache, ledger) under keys
derived from the instruction's text, so scoring the same instruction again is free.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, get_args

import dspy

from codeclm.models.config import OptimizeSettings
from codeclm.errors import EndpointError, StepError
from codeclm.judging.schemes import SCHEMES
from codeclm.steps.guards import InstructionGuard
from codeclm.optimize.fit import Fit, benchmark_fit
from codeclm.optimize.leakage import Leak, LeakGuard
from codeclm.optimize.validity import Validity, check_validity
from codeclm.output.records import content_id
from codeclm.steps.signatures import Metadata


def contrast_value(gap: float, theta: float, gap_max: float) -> float:
    """clip(gap / (2 theta), 0, 1): 0.5 at the filter's threshold; with theta 0, clip(gap / gap_max, 0, 1)."""
    span = 2 * theta if theta > 0 else gap_max
    return min(max(gap / span, 0.0), 1.0)


@dataclass
class Assessment:
    """One generated instruction, scored, with every part and the reason for each."""

    instruction: str
    score: float = 0.0
    contrast: float | None = None
    fit: float | None = None
    validity: Validity | None = None
    gap: float | None = None
    kept: bool = False  # the filter would keep it with the strong answer (gap > theta)
    guard: str | None = None  # the strong answer's failed guard, if any
    leak: Leak | None = None
    encoded: Metadata | None = None
    nearest: Fit | None = None  # the closest benchmark use case and skills
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction, "score": round(self.score, 4), "contrast": _round(self.contrast),
            "fit": _round(self.fit), "validity": _round(self.validity.score if self.validity else None),
            "gap": _round(self.gap), "kept_by_filter": self.kept, "guard": self.guard,
            "leak": self.leak.__dict__ if self.leak else None,
            "encoded": self.encoded.model_dump() if self.encoded else None, "error": self.error,
        }


@dataclass
class ExampleAssessment:
    """One example (metadata): its instructions' assessments and the mean over the chain's slots."""

    assessments: list[Assessment]
    slots: int
    errors: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(a.score for a in self.assessments[: self.slots]) / self.slots


@dataclass(frozen=True)
class ContrastResult:
    """The filter on one instruction: the gap, or the strong answer's failed guard, or the error."""

    gap: float = 0.0
    guard: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class FitResult:
    """The instruction re-encoded, and its fit to the benchmark's metadata; or why it could not be encoded."""

    encoded: Metadata | None = None
    fit: Fit | None = None
    error: str | None = None


class OptimizeMetric:
    """The metric over a program's generated instructions (see the module docstring)."""

    def __init__(self, program: dspy.Module, *, pool: list[Metadata], guard: LeakGuard, settings: OptimizeSettings):
        config = program.config
        self.program, self.pool, self.guard, self.settings = program, pool, guard, settings
        self.scheme, self.theta = config.judging.scheme, config.theta
        self.gap_max = SCHEMES[self.scheme].gap_max
        self.slots = config.instructions_per_metadata
        weights = settings.weights
        total = weights.contrast + weights.fit + weights.validity
        self.weights = {"contrast": weights.contrast / total, "fit": weights.fit / total, "validity": weights.validity / total}
        self.phase = "optimize"
        self.flagged: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []  # the optimizer's runs, scored (the report's optimize_runs)
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[Any, Any]] = {}

    # ---- DSPy's entry points ------------------------------------------------------------------------
    def __call__(self, example: dspy.Example, prediction: dspy.Prediction, trace=None) -> float | bool:
        judged = self.assess(example, prediction)
        passed = self.passes(judged) if trace is not None else None
        self.log(example, judged, passed)
        return passed if trace is not None else judged.score

    def for_gepa(self) -> "FeedbackMetric":
        return FeedbackMetric(self)

    # ---- scoring ------------------------------------------------------------------------------------
    def assess(self, example: dspy.Example, prediction: dspy.Prediction | None) -> ExampleAssessment:
        if prediction is None:
            return ExampleAssessment([], self.slots, ["the chain made no prediction"])
        texts = [str(t) for t in (prediction.get("instructions") or [])][: self.slots]
        demos = list(prediction.get("demo_instructions") or [])
        assessments = []
        for i, text in enumerate(texts):
            siblings = {f"instruction {j + 1}": other for j, other in enumerate(texts) if j != i}
            assessments.append(self.assess_one(text, siblings, demos, example))
        return ExampleAssessment(assessments, self.slots, list(prediction.get("errors") or []))

    def assess_one(self, text: str, siblings: dict[str, str], demos: list[str], example: dspy.Example | None = None) -> Assessment:
        result = Assessment(text)
        result.leak = self.guard.check(text)
        if result.leak is not None:
            self._flag(result, example)
            return result
        s = self.settings
        result.validity = check_validity(text, siblings, demos, s.min_words, s.max_words)
        if not result.validity.is_instruction:
            result.contrast = result.fit = 0.0
            result.score = self.weights["validity"] * result.validity.score
            return result
        contrast, fit = self._expensive_parts(text)
        if contrast is not None:
            if contrast.guard is not None or contrast.error is not None:  # the program would drop it: nothing else counts
                result.guard, result.error = contrast.guard, contrast.error
                return result
            result.gap = contrast.gap
            result.kept = contrast.gap > self.theta
            result.contrast = contrast_value(contrast.gap, self.theta, self.gap_max)
        if fit is not None:
            result.encoded, result.error = fit.encoded, fit.error
            result.fit = fit.fit.score if fit.fit else 0.0
            result.nearest = fit.fit
        result.score = (self.weights["contrast"] * (result.contrast or 0.0) + self.weights["fit"] * (result.fit or 0.0)
                        + self.weights["validity"] * result.validity.score)
        return result

    def passes(self, judged: ExampleAssessment) -> bool:
        """Whether a run may become a demo: all slots filled, each instruction kept, valid, on the benchmark, unflagged."""
        if len(judged.assessments) < self.slots:
            return False
        return all(
            a.leak is None and a.validity is not None and a.validity.score == 1.0
            and (self.weights["contrast"] == 0 or a.kept)
            and (self.weights["fit"] == 0 or (a.fit or 0.0) >= self.settings.demo_min_fit)
            for a in judged.assessments
        )

    def _expensive_parts(self, text: str) -> tuple["ContrastResult | None", "FitResult | None"]:
        """The filter's verdict and the re-encoded metadata (None where the part's weight is 0), memoized per text."""
        with self._lock:
            if text in self._memo:
                return self._memo[text]
        key = content_id("opt-i", " ".join(text.split()))
        contrast = self._contrast(text, key) if self.weights["contrast"] > 0 else None
        dropped = contrast is not None and (contrast.guard or contrast.error)
        fit = self._fit(text, key) if self.weights["fit"] > 0 and not dropped else None
        with self._lock:
            self._memo[text] = (contrast, fit)
        return contrast, fit

    def _contrast(self, text: str, key: str) -> "ContrastResult":
        with dspy.context(trace=None):  # the metric's own calls are never demos of the tuned steps
            try:
                contrast = self.program.contrastive_filter(instruction=text, key=key)
            except StepError as exc:
                _raise_if_endpoint(exc)
                return ContrastResult(error=str(exc))
        if contrast.verdict is None:  # the instruction's guard or the strong answer's
            return ContrastResult(guard=contrast.instruction_guard if contrast.instruction_guard != "ok" else contrast.strong.guard)
        return ContrastResult(gap=contrast.verdict.gap)

    def _fit(self, text: str, key: str) -> "FitResult":
        with dspy.context(trace=None):
            try:
                encoded = self.program.encode(instruction=text, key=key)
            except StepError as exc:
                _raise_if_endpoint(exc)
                return FitResult(error=f"encode failed: {exc}")
        return FitResult(encoded, benchmark_fit(encoded, self.pool))

    def log(self, example: dspy.Example, judged: ExampleAssessment, passed: bool | None = None) -> None:
        """Keep the optimizer's runs (phase "optimize") for the report: why a run did or did not become a demo."""
        if self.phase != "optimize":
            return
        with self._lock:
            self.runs.append({"key": example.get("key"), "source": example.get("source"), "score": round(judged.score, 4),
                              "passed": passed, "errors": judged.errors,
                              "instructions": [a.to_dict() for a in judged.assessments]})

    def _flag(self, result: Assessment, example: dspy.Example | None) -> None:
        with self._lock:
            self.flagged.append({"phase": self.phase, "example": example.get("key") if example is not None else None,
                                 "instruction": result.instruction, **result.leak.__dict__})

    # ---- feedback -----------------------------------------------------------------------------------
    def feedback(self, judged: ExampleAssessment) -> str:
        """Why an example scored what it did, per instruction, in words a reflection LM can act on."""
        lines = [f"Score {judged.score:.2f}: the mean over {self.slots} instruction slot(s) of "
                 f"{self.weights['contrast']:.2f} x contrast + {self.weights['fit']:.2f} x benchmark fit + "
                 f"{self.weights['validity']:.2f} x validity."]
        for n, a in enumerate(judged.assessments, 1):
            lines.append(f"Instruction {n} scored {a.score:.2f}: {self.reasons(a)}")
        missing = self.slots - len(judged.assessments)
        if missing > 0:
            why = "; ".join(judged.errors) or "fewer instructions were written than asked for"
            lines.append(f"{missing} slot(s) without an instruction scored 0 ({why[:300]}).")
        return "\n".join(lines)

    def reasons(self, a: Assessment) -> str:
        if a.leak is not None:
            return f"0 because {a.leak.describe()}; write new tasks, never benchmark items."
        if a.validity is not None and not a.validity.is_instruction:
            return "0 for contrast and fit because it reads like an answer, not an instruction; write only the request."
        if a.guard in get_args(InstructionGuard):
            return (f"0 because the instruction failed its guard ({a.guard.replace('_', ' ')}); the program never answers it: "
                    "write one self-contained request that gives every text, number and detail it needs.")
        if a.guard is not None:
            return (f"0 because the strong model's answer was {a.guard.replace('_', ' ')}"
                    + (" at the token cap even with twice the cap: ask for tasks whose full answer is shorter"
                       if a.guard == "cut_off" else "") + "; the program drops such pairs.")
        if a.error is not None and a.gap is None:
            return f"0 because it could not be scored ({a.error[:200]})."
        parts = []
        if a.gap is not None:
            measure = (f"the target's loss on the strong answer is {a.gap:.2f} nats/token"
                       if SCHEMES[self.scheme].scores_with == "target"
                       else f"the judge's gap strong - target is {a.gap:+.2f}")
            if a.kept:
                parts.append(f"contrast {a.contrast:.2f} ({measure}, above the filter's threshold {self.theta:g}: "
                             "the target cannot do it yet, good)")
            else:
                parts.append(f"contrast {a.contrast:.2f} ({measure}, not above the filter's threshold {self.theta:g}: "
                             "too easy for the target; ask for tasks that need the skills more deeply)")
        if a.fit is not None:
            if a.encoded is not None and a.nearest is not None:
                parts.append(f"benchmark fit {a.fit:.2f} (it reads as use case '{a.encoded.use_case}' needing "
                             f"{', '.join(a.encoded.skills)}; the closest in the benchmark: {a.nearest.nearest()})")
            else:
                parts.append(f"benchmark fit {a.fit:.2f}" + (f" ({a.error[:150]})" if a.error else ""))
        if a.validity is not None:
            problems = a.validity.problems(self.settings.min_words, self.settings.max_words)
            parts.append(f"validity {a.validity.score:.2f}" + (f" ({'; '.join(problems)})" if problems else ""))
        return "; ".join(parts) + "."


class FeedbackMetric:
    """The metric as GEPA calls it: (gold, pred, trace, pred_name, pred_trace) -> Prediction(score, feedback)."""

    def __init__(self, metric: OptimizeMetric):
        self.metric = metric

    def __call__(self, gold, pred, trace=None, pred_name=None, pred_trace=None) -> dspy.Prediction:
        judged = self.metric.assess(gold, pred)
        if pred_name is None:  # GEPA asks again per tuned step for the feedback: log each run once
            self.metric.log(gold, judged)
        return dspy.Prediction(score=judged.score, feedback=self.metric.feedback(judged))


def _raise_if_endpoint(exc: StepError) -> None:
    if exc.endpoint_failure:
        raise EndpointError(str(exc)) from None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
