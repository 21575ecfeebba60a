"""Judging for Contrastive Filtering: the schemes (target-loss and LLM judges), each declared once in `schemes`.

Light imports only here (config reads the schemes); a scheme's DSPy module is imported when
`codeclm.judging.schemes.make_judge` builds it; the check lives in `codeclm.check`.
"""

from codeclm.judging.schemes import SCHEMES, Scheme
from codeclm.steps.verdict import OrderVerdict, Verdict, combine

__all__ = ["SCHEMES", "OrderVerdict", "Scheme", "Verdict", "combine"]
