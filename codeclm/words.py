"""Words as the project counts them: runs of letters and digits of any script, lower-cased ("don't" is two)."""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_]+")


def words(text: str | None) -> list[str]:
    return WORD.findall((text or "").lower())
