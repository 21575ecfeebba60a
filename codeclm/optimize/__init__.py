"""`codeclm optimize`: tune CodecLM's generation steps for a target LLM against a benchmark (docs/optimize.md).

    from codeclm.optimize import optimize_file
    result = optimize_file("programs/codeclm.yaml", benchmark="vicuna", steps="decode", optimizer="gepa")
    print(result.comparison.line())
"""

from codeclm.errors import OptimizeError
from codeclm.optimize.chain import CHAIN, GenerationChain
from codeclm.optimize.figures import Comparison, paired_bootstrap
from codeclm.optimize.fit import Fit, benchmark_fit
from codeclm.optimize.leakage import Leak, LeakGuard
from codeclm.optimize.metric import Assessment, ExampleAssessment, OptimizeMetric, contrast_value
from codeclm.optimize.optimizers import OPTIMIZERS
from codeclm.optimize.runner import OptimizeResult, optimize, optimize_file, parse_steps
from codeclm.optimize.split import BenchmarkSplit, split_benchmark
from codeclm.optimize.validity import check_validity

__all__ = [
    "CHAIN", "OPTIMIZERS", "Assessment", "BenchmarkSplit", "Comparison", "ExampleAssessment", "Fit", "GenerationChain", "Leak",
    "LeakGuard", "OptimizeError", "OptimizeMetric", "OptimizeResult", "benchmark_fit", "check_validity", "contrast_value",
    "optimize", "optimize_file", "paired_bootstrap", "parse_steps", "split_benchmark",
]
