"""Command-line argument checks: numbers in range before any work starts, and argparse's errors as one line.

argparse's own `type=` hook does the checking (considered: click/typer have `IntRange`, but the CLI is
argparse and switching for this alone is not worth it); `OneLineParser` prints the error as one line,
`error: codeclm eval: argument --bootstrap: ...`, exit 2, instead of the usage block and the error.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Callable


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2); its subparsers are the same kind."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        sys.stderr.write(f"error: {self.prog}: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _describe(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool, noun: str) -> str:
    if lo is not None and hi is not None:
        return f"{noun} {'>' if lo_open else '>='} {lo} and {'<' if hi_open else '<='} {hi}"
    if lo is not None:
        return f"{noun} {'>' if lo_open else '>='} {lo}"
    return f"{noun} {'<' if hi_open else '<='} {hi}"


def _number_range(convert: Callable[[str], float], noun: str, name: str, lo: float | None, hi: float | None,
                  lo_open: bool, hi_open: bool) -> Callable[[str], float]:
    """An argparse type named `name`: `convert(text)` (int or float), finite, between lo and hi."""
    allowed = _describe(lo, hi, lo_open, hi_open, noun)

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}; allowed: {allowed}") from None
        below = lo is not None and (value <= lo if lo_open else value < lo)
        above = hi is not None and (value >= hi if hi_open else value > hi)
        if (isinstance(value, float) and not math.isfinite(value)) or below or above:
            raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: {allowed}")
        return value

    parse.__name__ = name
    return parse


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi] (either end may be open-ended: None)."""
    return _number_range(int, "a whole number", "int_range", lo, hi, False, False)


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                hi_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number between lo and hi (each end closed unless `*_open`)."""
    return _number_range(float, "a number", "float_range", lo, hi, lo_open, hi_open)


positive_int = int_range(1)
non_negative_int = int_range(0)
