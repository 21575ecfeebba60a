"""Judge (paper Sec. 3.3). The schemes live in `codeclm.judging`; this module keeps the step's old names.

`Judge` is the paper's pairwise 1-10 judge. Build the configured scheme with
`codeclm.judging.schemes.make_judge` (CodecLM does).
"""

from __future__ import annotations

from codeclm.judging.pairwise import PairwiseJudge, strict_score
from codeclm.judging.verdict import OrderVerdict, Verdict, combine

# Keys of the `judging:` settings that are not LM call parameters.
_SETTINGS_ONLY = ("scheme", "calibration")


class Judge(PairwiseJudge):
    """Pairwise 1-10 judge; accepts `**config.judging.model_dump()` and drops the non-LM keys."""

    def __init__(self, prompt, lm=None, max_attempts: int = 3, **lm_config):
        lm_config = {k: v for k, v in lm_config.items() if k not in _SETTINGS_ONLY and v is not None}
        super().__init__(prompt, lm, max_attempts, **lm_config)


__all__ = ["Judge", "OrderVerdict", "Verdict", "combine", "strict_score"]
