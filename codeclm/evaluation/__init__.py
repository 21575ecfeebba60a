"""Evaluation: Capacity Recovery Ratio (CRR) of a candidate against a reference on a benchmark."""

from codeclm.evaluation.benchmarks import BUNDLED, BenchmarkError, BenchmarkItem, load_benchmark
from codeclm.evaluation.harness import evaluate
from codeclm.evaluation.leakage import SeedLeakError
from codeclm.evaluation.results import EvalReport, ItemJudgment, JudgeConsistency, Tally
from codeclm.evaluation.resume import EvalFileError
from codeclm.evaluation.rules import RULES, bootstrap_ci, crr, item_outcome, order_outcome

__all__ = [
    "BUNDLED", "BenchmarkError", "BenchmarkItem", "EvalFileError", "EvalReport", "ItemJudgment", "JudgeConsistency", "RULES",
    "SeedLeakError", "Tally",
    "bootstrap_ci", "crr", "evaluate", "item_outcome", "load_benchmark", "order_outcome",
]
