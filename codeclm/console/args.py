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


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi] (either end may be open-ended: None)."""
    allowed = _describe(lo, hi, False, False, "a whole number")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; allowed: {allowed}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range; allowed: {allowed}")
        return value

    parse.__name__ = "int_range"
    return parse


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                hi_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number between lo and hi (each end closed unless `*_open`)."""
    allowed = _describe(lo, hi, lo_open, hi_open, "a number")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; allowed: {allowed}") from None
        below = lo is not None and (value <= lo if lo_open else value < lo)
        above = hi is not None and (value >= hi if hi_open else value > hi)
        if not math.isfinite(value) or below or above:
            raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: {allowed}")
        return value

    parse.__name__ = "float_range"
    return parse


positive_int = int_range(1)
non_negative_int = int_range(0)
