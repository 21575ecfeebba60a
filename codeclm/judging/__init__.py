"""Judging for Contrastive Filtering: selectable schemes, log-probability parsing, judge calibration.

Light imports only here (config reads the scales); the DSPy modules live in
`codeclm.judging.schemes` (make_judge) and `codeclm.judging.calibration`.
"""

from codeclm.judging.scales import SCALES, Scale, SchemeName
from codeclm.judging.verdict import OrderVerdict, Verdict, combine

__all__ = ["SCALES", "OrderVerdict", "Scale", "SchemeName", "Verdict", "combine"]
