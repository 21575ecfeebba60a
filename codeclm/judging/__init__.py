"""Judging for Contrastive Filtering: the schemes (target-loss and LLM judges), their scales, and the filter check.

Light imports only here (config reads the scales); the DSPy modules live in
`codeclm.judging.schemes` (make_judge), the check in `codeclm.check.grading`.
"""

from codeclm.judging.scales import SCALES, Scale, SchemeName
from codeclm.steps.verdict import OrderVerdict, Verdict, combine

__all__ = ["SCALES", "OrderVerdict", "Scale", "SchemeName", "Verdict", "combine"]
