"""`records: N`: CodecLM in rounds until N records are kept, with optional quotas per use case and per skill.

A round decodes just enough new metadata for the records still missing (at the yield seen so far), sends
their instructions through the near-duplicate check and Contrastive Filtering (with Self-Rubrics for the
ones found too easy), and counts what each metadata cell (a use case, a skill) kept and asked. The next
round picks metadata by where yield is still missing: cells that keep coming back too easy score their
low yield and get fewer new instructions; a cell not yet asked scores the run's yield and, with quotas,
its whole deficit, so it gets more; a full cell gets none.

The count is exact: an instruction starts its strong / target / judge calls only while the records kept
plus those in flight are fewer than N (and its cell has room), so the run stops at N kept, never more.
Instructions not started are not written anywhere: a rerun with a larger N (or more seeds) picks them up;
everything the run did ask is cached and in the output, so it resumes like any run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

from codeclm.programs.dedup import NearDuplicateIndex
from codeclm.output.records import Dropped, Record

MAX_ROUNDS = 64
DECIDED_STAGES = ("filter", "guard")  # a dropped item that reached a decision (its instruction was asked)


class NotAsked:
    """An instruction the quota did not start (N reached, or its cell full): nothing is written for it."""


NOT_ASKED = NotAsked()


@dataclass
class Cell:
    asked: int = 0
    kept: int = 0
    in_flight: int = 0

    def yield_estimate(self, prior: float, strength: float = 2.0) -> float:
        """Kept per asked instruction, shrunk towards `prior` (the run's yield) while the cell has few answers."""
        return (self.kept + strength * prior) / (self.asked + strength)


def cells_of(metadata) -> list[str]:
    if metadata is None:
        return []
    return [f"use case: {metadata.use_case.lower()}"] + [f"skill: {s}" for s in metadata.skills]


@dataclass
class Quotas:
    """Counts per cell and in total; `admit` / `finish` bracket every instruction's paid calls."""

    records: int
    per_use_case: int | None = None
    per_skill: int | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    kept: int = 0
    asked: int = 0
    in_flight: int = 0

    def __post_init__(self) -> None:
        self._cond = threading.Condition()

    # -- counting --------------------------------------------------------------------
    def cell(self, name: str) -> Cell:
        return self.cells.setdefault(name, Cell())

    def count(self, metadata, kept: bool) -> None:
        """One instruction decided (kept, or dropped at the filter or its guard)."""
        with self._cond:
            self._count(metadata, kept)

    def _count(self, metadata, kept: bool) -> None:
        self.asked += 1
        self.kept += kept
        for name in cells_of(metadata):
            cell = self.cell(name)
            cell.asked += 1
            cell.kept += kept

    def load(self, prior) -> None:
        """What an output already holds (an OutputState): its kept records and decided drops."""
        if prior is None:
            return
        for item in prior.kept.values():
            self.count(item.metadata, True)
        for item in prior.dropped.values():
            if item.kind == "filtered" and item.stage in DECIDED_STAGES:
                self.count(item.metadata, False)

    # -- the quota -------------------------------------------------------------------
    def cap(self, name: str) -> int | None:
        return self.per_use_case if name.startswith("use case:") else self.per_skill

    def _room(self, metadata, in_flight: bool = True) -> bool:
        """Whether an instruction of `metadata` could still be needed: its use case and one of its skills have room."""
        names = cells_of(metadata)
        if not names:
            return True
        def has_room(name: str) -> bool:
            cap, cell = self.cap(name), self.cells.get(name, Cell())
            return cap is None or cell.kept + (cell.in_flight if in_flight else 0) < cap
        return has_room(names[0]) and any(has_room(n) for n in names[1:])

    @property
    def done(self) -> bool:
        return self.kept >= self.records

    def missing(self) -> int:
        return max(0, self.records - self.kept)

    def has_room(self, metadata) -> bool:
        with self._cond:
            return not self.done and self._room(metadata, in_flight=False)

    def admit(self, metadata) -> bool:
        """Wait until this instruction could still be needed (False once it cannot): kept + in flight < N, and room
        in its cells. Every True must be followed by `finish`."""
        with self._cond:
            while True:
                if self.done or not self._room(metadata, in_flight=False):
                    return False
                if self.kept + self.in_flight < self.records and self._room(metadata):
                    self.in_flight += 1
                    for name in cells_of(metadata):
                        self.cell(name).in_flight += 1
                    return True
                self._cond.wait()  # an instruction in flight will finish (kept or not) and notify

    def finish(self, metadata, result: Any) -> None:
        """An admitted instruction ended: kept, decided (dropped), waiting for rubrics, or failed."""
        with self._cond:
            self.in_flight -= 1
            for name in cells_of(metadata):
                self.cell(name).in_flight -= 1
            if isinstance(result, Record):
                self._count(metadata, True)
            elif isinstance(result, Dropped) and result.kind == "filtered" and result.stage in DECIDED_STAGES:
                self._count(metadata, False)
            self._cond.notify_all()

    # -- planning a round ------------------------------------------------------------
    def run_yield(self) -> float:
        """Kept per asked instruction over the run, smoothed (1/2 before anything is asked)."""
        return (self.kept + 1) / (self.asked + 2)

    def score(self, metadata) -> float:
        """Expected records per new instruction of `metadata`, weighed by how much its cells still miss."""
        prior = self.run_yield()
        names = cells_of(metadata)
        if not names:
            return prior
        if not self._room(metadata, in_flight=False):
            return 0.0
        scores = []
        for name in names:
            cell, cap = self.cells.get(name, Cell()), self.cap(name)
            want = 1.0 if cap is None else max(0.0, (cap - cell.kept) / cap)
            scores.append(cell.yield_estimate(prior) * want)
        return sum(scores) / len(scores)

    def expected_yield(self, metadata) -> float:
        """Expected records per new instruction of `metadata` (its cells' smoothed yields, averaged)."""
        prior = self.run_yield()
        names = cells_of(metadata)
        return sum(self.cells.get(n, Cell()).yield_estimate(prior) for n in names) / len(names) if names else prior

    def choose(self, candidates: list, per_metadata: int, limit: int | None = None) -> list:
        """Metadata (MetadataItems, pool order) to decode this round: best score first, until their expected
        records cover what is missing (and, with quotas, each use case's deficit); at most `limit`."""
        with self._cond:
            need = self.missing()
            scored = [(self.score(m.metadata), i, m) for i, m in enumerate(candidates) if self._room(m.metadata, in_flight=False)]
            scored.sort(key=lambda t: (-t[0], t[1]))
            chosen, expected, per_case = [], 0.0, {}
            for _score, _, item in scored:
                if expected >= need or (limit is not None and len(chosen) >= limit):
                    break
                case = cells_of(item.metadata)[0] if item.metadata is not None else None
                if self.per_use_case and case is not None:
                    cell = self.cells.get(case, Cell())
                    deficit = self.per_use_case - cell.kept
                    if per_case.get(case, 0.0) >= deficit:
                        continue
                    per_case[case] = per_case.get(case, 0.0) + per_metadata * cell.yield_estimate(self.run_yield())
                chosen.append(item)
                expected += per_metadata * max(self.expected_yield(item.metadata), 1e-3)
            return chosen

    def know(self, metadata: list) -> None:
        """Count these metadata's use cases and skills as cells (kept 0 / asked 0 until asked): a cell never asked
        shows in the report, and in a shortfall."""
        with self._cond:
            for m in metadata:
                for name in cells_of(m):
                    self.cell(name)

    def can_take_more(self) -> bool:
        """Whether some combination of the known use cases and skills still has room: a use case and a skill below
        their quotas (enlargement only recombines them, so once not, no new metadata can help)."""
        with self._cond:
            cases = [n for n in self.cells if n.startswith("use case:")]
            skills = [n for n in self.cells if n.startswith("skill:")]
            free = lambda names: any(self.cap(n) is None or self.cells[n].kept < self.cap(n) for n in names)  # noqa: E731
            return not cases or (free(cases) and (not skills or free(skills)))

    def shortfall(self, stop: str) -> dict[str, Any]:
        """Why a run ended before N (`stop`: quotas, metadata, rounds), in one line, and the cells below their
        quota with their kept / asked / yield; {} when N was reached."""
        with self._cond:
            if self.done:
                return {}
            below = {name: {"kept": c.kept, "asked": c.asked, "yield": round(c.kept / c.asked, 3) if c.asked else None,
                            "quota": self.cap(name)}
                     for name, c in sorted(self.cells.items()) if self.cap(name) and c.kept < self.cap(name)}
            cases = sum(n.startswith("use case:") for n in self.cells)
            skills = len(self.cells) - cases
            if stop == "quotas":
                full = (f"all {cases} use cases at per_use_case {self.per_use_case} ({cases} x {self.per_use_case} = "
                        f"{cases * self.per_use_case} < {self.records})" if self.per_use_case and not any(
                            n.startswith("use case:") for n in below) else f"all {skills} skills at per_skill {self.per_skill}")
                why = f"{full}; raise the quota or add seeds with other use cases and skills"
            elif stop == "rounds":
                why = f"stopped after {MAX_ROUNDS} rounds; rerun the same command to go on"
            else:
                room = " with room left" if self.per_use_case or self.per_skill else ""
                why = (f"every combination of the {cases} use cases and {skills} skills{room} was decoded; add seeds with "
                       f"other use cases and skills")
            named = [f"{n} kept {c['kept']}/{c['quota']} of {c['asked']} asked" for n, c in below.items()]
            if stop != "quotas" and named:
                why += "; below quota: " + ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
            line = f"short by {self.missing()} ({self.kept} of {self.records} kept from {self.asked} instructions): {why}"
            return {"stopped_because": stop, "short": line, "short_cells": below}

    def report(self) -> dict[str, Any]:
        """For the summary and manifest: the totals and each cell's kept / asked / yield."""
        with self._cond:
            cells = {name: {"kept": c.kept, "asked": c.asked, "yield": round(c.kept / c.asked, 3) if c.asked else None}
                     for name, c in sorted(self.cells.items())}
            return {"records": self.records, "kept": self.kept, "asked": self.asked,
                    "yield": round(self.kept / self.asked, 3) if self.asked else None,
                    "per_use_case": self.per_use_case, "per_skill": self.per_skill, "cells": cells}


def drop_near_duplicates(program, stages, items: list, index: NearDuplicateIndex) -> list:
    """The items whose instruction is not a near-duplicate of one already in `index` (the whole output so far);
    each other one is dropped with a record naming the instruction it repeats. Items finished by an earlier
    run are indexed and passed on (the stage skips them)."""
    fresh = []
    for item in items:
        if item.id in stages.done:
            index.add(item.id, item.instruction)
            fresh.append(item)
            continue
        found = index.check_and_add(item.id, item.instruction)
        if found is None:
            fresh.append(item)
            continue
        program.emit(stages, Dropped(
            id=item.id, stage="dedup", kind="filtered", instruction=item.instruction, metadata=item.source.metadata,
            reason=f"near-duplicate of {found.id} (Jaccard {found.similarity:.2f} >= {index.threshold:g} on word 3-grams): "
                   f"'{found.text[:80]}'", program=program.config.name))
    return fresh


def output_index(prior) -> NearDuplicateIndex:
    """An index holding every instruction the output already asked for (kept, or dropped after a decision)."""
    index = NearDuplicateIndex()
    if prior is not None:
        for item in prior.kept.values():
            index.add(item.id, item.instruction)
        for item in prior.dropped.values():
            if item.instruction and item.stage != "dedup":
                index.add(item.id, item.instruction)
    return index


def fill_records(program, seeds: list, stages, *, too_easy_type: type, instruction_item, metadata_item) -> dict[str, Any]:
    """CodecLM in rounds until `config.records` are kept (see the module docstring); returns the quota report.
    CodecLM passes its item makers and its TooEasy type (this module sits below it)."""
    cfg = program.config
    quotas = Quotas(cfg.records, cfg.per_use_case, cfg.per_skill)
    quotas.load(stages.prior)
    index = output_index(stages.prior)
    program.quota_report = quotas.report()
    if quotas.done:
        return program.quota_report
    encoded = program.stage(stages, "encode", program.encode_seed, seeds)
    origin = {o.value.key(): f"encoded:{o.item.id}" for o in reversed(encoded)}
    known = [o.value for o in encoded]
    size = max(cfg.num_metadata, len({m.key() for m in known}) + 1)

    def pool_of(n: int) -> list:
        return [metadata_item(m, origin.get(m.key(), "enlarged")) for m in program.enlarge(metadata=known, n=n)]

    pool, decoded_ids, rounds = pool_of(size), set(), 0
    quotas.know(known)

    def gated(item):
        metadata = item.source.metadata
        if not quotas.admit(metadata):
            return NOT_ASKED
        result = None
        try:
            result = program.evolve(item)
            return result
        finally:
            quotas.finish(metadata, result)

    for _ in range(MAX_ROUNDS):
        if quotas.done:
            stop = "records"
            break
        if not quotas.can_take_more():
            stop = "quotas"
            break
        candidates = [m for m in pool if m.id not in decoded_ids]
        limit = cfg.num_metadata if quotas.asked == 0 else None  # learn the yield before a large round
        chosen = quotas.choose(candidates, cfg.instructions_per_metadata, limit)
        while not chosen and len(pool) >= size:  # the pool is used up for now: enlarge it (no LLM call)
            size *= 2
            pool = pool_of(size)
            candidates = [m for m in pool if m.id not in decoded_ids]
            chosen = quotas.choose(candidates, cfg.instructions_per_metadata, limit)
            if not candidates:
                break
        if not chosen:
            stop = "metadata"
            break  # every combination of the known use cases and skills with room is decoded
        decoded_ids.update(m.id for m in chosen)
        rounds += 1
        decoded = program.stage(stages, "decode", program.decode_metadata, chosen)
        instructions = [instruction_item(o.item, text) for o in decoded for text in o.value]
        instructions = drop_near_duplicates(program, stages, instructions, index)
        too_easy: list = []
        collect = lambda value, too_easy=too_easy: too_easy.append(value) if isinstance(value, too_easy_type) else None  # noqa: E731
        program.final_stage(stages, "filter", gated, instructions, pending=collect)
        if too_easy and not quotas.done:
            pool_items = list({t.item.source.id: t.item.source for t in too_easy}.values())
            rubrics = program.rubrics_for(stages, pool_items)
            waiting = [replace(t.item, history=t.history, rubrics=rubrics[t.item.source.id][0],
                               rubrics_error=rubrics[t.item.source.id][1]) for t in too_easy]
            program.final_stage(stages, "improve", gated, waiting, pending=lambda value: None)
        program.quota_report = quotas.report()
    else:
        stop = "records" if quotas.done else "quotas" if not quotas.can_take_more() else "rounds"
    program.quota_report = {**quotas.report(), "rounds": rounds, "rounds_metadata": len(decoded_ids),
                            "short_by": quotas.missing(), **quotas.shortfall(stop)}
    return program.quota_report
