"""Judge calibration: does the judge prefer a known-better answer? Accuracy, order consistency, position bias.

Run before Contrastive Filtering (cached) and by `codeclm judge check`. A judge at or near
chance stops the run with JudgeCalibrationError naming the fix. Passing is necessary, not
sufficient: the pairs hold gross defects (see `codeclm.judging.pairs`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from codeclm.errors import JudgeCalibrationError, StepError
from codeclm.judging.pairs import CalibrationPair
from codeclm.judging.scales import SCALES
from codeclm.judging.verdict import Verdict

log = logging.getLogger(__name__)
FIX = ("try another scheme (judging.scheme: logprob-pairwise or pointwise-logprob), or a stronger judge model "
       "(models.judge: {model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}); judging.calibration.enabled: false runs anyway")


class PairResult(BaseModel):
    pair_id: str
    kind: str
    verdict: Verdict | None = None
    error: str | None = None

    @property
    def correct(self) -> bool:
        return self.verdict is not None and self.verdict.gap > 0


class CalibrationReport(BaseModel):
    """One scheme's calibration figures. position_bias: share of order verdicts preferring the first answer
    (0.5 = none, 1.0 = always first; None for pointwise). Ties and failures count as wrong."""

    scheme: str
    judge_model: str
    threshold: float
    min_accuracy: float
    pairs: int
    correct: int
    failed: int
    accuracy: float
    above_threshold: float  # share of pairs whose gap > theta: what the filter would keep
    order_consistency: float | None
    position_bias: float | None
    by_kind: dict[str, str]
    seconds_per_pair: float
    passed: bool
    cached: bool = False
    results: list[PairResult] = []

    def line(self) -> str:
        """One line for summaries: '8/9 correct (89%), orders agree 89%, first-position 0.52, passed'."""
        parts = [f"{self.correct}/{self.pairs} correct ({self.accuracy:.0%})"]
        if self.order_consistency is not None:
            parts.append(f"orders agree {self.order_consistency:.0%}")
        if self.position_bias is not None:
            parts.append(f"first-position share {self.position_bias:.2f}")
        parts.append(f"gap > theta {self.above_threshold:.0%}")
        parts.append("passed (necessary, not sufficient)" if self.passed else f"FAILED (needs {self.min_accuracy:.0%})")
        return ", ".join(parts)


def evaluate(judge, pairs: list[CalibrationPair], *, threshold: float | None = None, min_accuracy: float = 0.75) -> CalibrationReport:
    """Judge every pair (better as `strong`, worse as `target`) and compute the figures."""
    scheme = judge.scheme
    threshold = SCALES[scheme].threshold if threshold is None else threshold
    started, results = time.time(), []
    for pair in pairs:
        try:
            verdict = judge(instruction=pair.instruction, strong=pair.better, target=pair.worse, key=f"calibration/{pair.id}")
            results.append(PairResult(pair_id=pair.id, kind=pair.kind, verdict=verdict))
        except StepError as exc:
            results.append(PairResult(pair_id=pair.id, kind=pair.kind, error=str(exc)))
    return report(scheme, judge.model_name or "?", results, threshold, min_accuracy, (time.time() - started) / max(1, len(pairs)))


def report(scheme: str, model: str, results: list[PairResult], threshold: float, min_accuracy: float, seconds_per_pair: float) -> CalibrationReport:
    n = len(results)
    judged = [r.verdict for r in results if r.verdict is not None]
    correct = sum(r.correct for r in results)
    pairwise = [v for v in judged if any(o.order != "pointwise" for o in v.orders)]
    firsts = [o.first_preferred for v in pairwise for o in v.orders]
    kinds = Counter(r.kind for r in results)
    right = Counter(r.kind for r in results if r.correct)
    accuracy = correct / n if n else 0.0
    return CalibrationReport(
        scheme=scheme, judge_model=model, threshold=threshold, min_accuracy=min_accuracy, pairs=n, correct=correct,
        failed=n - len(judged), accuracy=accuracy,
        above_threshold=sum(v.gap > threshold for v in judged) / n if n else 0.0,
        order_consistency=sum(v.orders_agree for v in pairwise) / len(pairwise) if pairwise else None,
        position_bias=sum(0.5 if f is None else float(f) for f in firsts) / len(firsts) if firsts else None,
        by_kind={k: f"{right[k]}/{kinds[k]}" for k in sorted(kinds)},
        seconds_per_pair=round(seconds_per_pair, 2), passed=n > 0 and accuracy >= min_accuracy, results=results,
    )


def require_passed(report: CalibrationReport) -> CalibrationReport:
    """Raise JudgeCalibrationError (with the fix) when the judge is at or near chance."""
    if not report.passed:
        raise JudgeCalibrationError(
            f"judge calibration failed: {report.judge_model} with scheme {report.scheme} got {report.correct}/{report.pairs} "
            f"known-better answers right ({report.accuracy:.0%}; chance 50%, needed {report.min_accuracy:.0%}); "
            f"its verdicts would be noise. Fix: {FIX}"
        )
    return report


# ---- cache: one JSON per (judge, scheme, prompts, sampling, pairs) -----------------------------

def cache_key(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cache_path(key: str) -> Path:
    base = os.environ.get("CODECLM_CACHE_DIR")
    if not base:
        import platformdirs

        base = platformdirs.user_cache_dir("codeclm")
    return Path(base) / "judge_calibration" / f"{key}.json"


def load_cached(key: str) -> CalibrationReport | None:
    path = cache_path(key)
    try:
        found = CalibrationReport.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found.model_copy(update={"cached": True})


def store(key: str, result: CalibrationReport) -> None:
    """Store a report with no failed pair (a failure may be a passing endpoint problem)."""
    if result.failed:
        return
    path = cache_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(result.model_dump_json(indent=1), encoding="utf-8")
    tmp.replace(path)
