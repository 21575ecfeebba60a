"""Seed / test splits of the bundled benchmarks (CodecLM Sec. 4: the seeds are a 20% split of each
benchmark's instructions; the evaluation scores the rest).

Rule: row k of a bundled benchmark file (0-based, file order) is in the `seed` split when
k % 5 == 0, else in `test`; `all` is every row. Every fifth row gives 20% spread over the file's
categories (both files keep a category's rows together): self_instruct 51 seed / 201 test rows,
vicuna 16 / 64.

Written `NAME:SPLIT` (`benchmark:NAME:SPLIT` as seeds). Without a split, seeds take `seed` and an
eval takes `test`, so the natural path never scores an instruction the data was seeded with.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("seed", "test", "all")
SEED_EVERY = 5
SPLIT_RULE = "row k of the file (0-based) is a seed when k % 5 == 0 (20% seed, 80% test)"


@dataclass(frozen=True)
class Split:
    """One split of one bundled benchmark."""

    benchmark: str
    split: str

    def holds(self, row: int) -> bool:
        """Is row `row` (0-based, file order) of the benchmark in this split?"""
        return self.split == "all" or (row % SEED_EVERY == 0) == (self.split == "seed")

    def overlaps(self, other: Split) -> bool:
        """Do the two splits share a row?"""
        return self.benchmark == other.benchmark and (self.split == other.split or "all" in (self.split, other.split))

    def __str__(self) -> str:
        return f"{self.benchmark}:{self.split}"


def parse_split(ref: str, default: str, prefix: str = "") -> Split:
    """'NAME' or 'NAME:SPLIT' -> Split (`default` when no split is named); ValueError (one line, naming
    `prefix` + ref) for an unknown split."""
    name, _, split = ref.partition(":")
    split = split or default
    if split not in SPLITS:
        raise ValueError(f"{prefix}{ref}: unknown split '{split}'; use {prefix}{name} (its {default} split), "
                         f"{prefix}{name}:seed, :test or :all ({SPLIT_RULE})")
    return Split(name, split)
