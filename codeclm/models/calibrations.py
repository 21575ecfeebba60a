"""theta belongs to the target: a filter threshold fit for one target model and scheme, recorded with them.

`codeclm judge calibrate PROGRAM` fits theta on dev items only (the bundled labelled set's dev split for
the target its labels were read for, a user's own labelled items, or the quiz family's dev split), and
writes it to `calibrations.json` beside the program file. A program without `theta:` takes the record
for its target and scheme; under a scheme whose scale moves with the target (`needs_calibration` in its
record, codeclm.judging.schemes: target-loss) a run with no record for its target refuses to start and names the command.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from pydantic import BaseModel

CALIBRATIONS = "calibrations.json"


class Calibration(BaseModel):
    """One fitted theta: for which target and scheme, on which items, how well it did there."""

    target: str  # the target's label: local:NAME or the endpoint's model id
    scheme: str
    theta: float
    fit_on: str
    dev_items: int
    dev_accuracy: float  # balanced: the mean of the keep and the send-back accuracy
    dev_by_decision: dict[str, str] = {}  # keep / send_back: right / n at theta
    date: str = ""


def calibrations_path(base_dir: Path) -> Path:
    return Path(base_dir) / CALIBRATIONS


def read_calibrations(base_dir: Path) -> list[Calibration]:
    path = calibrations_path(base_dir)
    if not path.is_file():
        return []
    return [Calibration.model_validate(row) for row in _read(base_dir).get("calibrations", [])]


def find(base_dir: Path | list[Path], target: str, scheme: str) -> Calibration | None:
    """The calibration for `target` and `scheme` in the first of `base_dir` (one folder or several) that has one."""
    for folder in base_dir if isinstance(base_dir, list) else [base_dir]:
        found = next((c for c in read_calibrations(folder) if c.target == target and c.scheme == scheme), None)
        if found is not None:
            return found
    return None


def record(base_dir: Path, calibration: Calibration) -> Path:
    """Write `calibration` beside the program, replacing an older one for the same target and scheme."""
    kept = [c for c in read_calibrations(base_dir) if (c.target, c.scheme) != (calibration.target, calibration.scheme)]
    calibration.date = calibration.date or date.today().isoformat()
    path = calibrations_path(base_dir)
    data = _read(base_dir)
    data["about"] = "theta per target and scheme (`codeclm judge calibrate`) and the latest filter check per scheme and judge (`codeclm judge check`)"
    data["calibrations"] = [c.model_dump() for c in sorted(kept + [calibration], key=lambda c: (c.scheme, c.target))]
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


class CheckRecord(BaseModel):
    """What `codeclm judge check` found for one scheme and judge: `codeclm eval` judges only with a passed one."""

    scheme: str
    judge: str  # the judging model's label (for target-loss: the target's)
    target: str
    status: str
    line: str
    source: str
    date: str = ""
    fingerprint: str = ""  # what shapes the decisions: a run with the same one reuses this check instead of paying again
    report: dict = {}  # the check's figures (no per-item results)


def _read(base_dir: Path) -> dict:
    path = calibrations_path(base_dir)
    return json.loads(path.read_text()) if path.is_file() else {}


def record_check(base_dir: Path, found: CheckRecord) -> None:
    """Keep the latest check of each (scheme, judge) beside the program, with the calibrations."""
    data = _read(base_dir)
    found.date = found.date or date.today().isoformat()
    checks = [c for c in data.get("checks", []) if (c["scheme"], c["judge"]) != (found.scheme, found.judge)]
    data["checks"] = sorted(checks + [found.model_dump()], key=lambda c: (c["scheme"], c["judge"]))
    data.setdefault("calibrations", [])
    data["about"] = "theta per target and scheme (`codeclm judge calibrate`) and the latest filter check per scheme and judge (`codeclm judge check`)"
    calibrations_path(base_dir).write_text(json.dumps(data, indent=1) + "\n")


def find_check(base_dir: Path | list[Path], scheme: str, judge: str) -> CheckRecord | None:
    """The latest check of `scheme` and `judge` in the first of `base_dir` (one folder or several) that has one."""
    for folder in base_dir if isinstance(base_dir, list) else [base_dir]:
        found = next((CheckRecord.model_validate(c) for c in _read(folder).get("checks", []) if c["scheme"] == scheme and c["judge"] == judge), None)
        if found is not None:
            return found
    return None


def record_places(config) -> list[Path]:
    """Where a program's calibrations and checks are looked up: beside the program, then the user's cache folder
    (where they are written for a program shipped inside the installed package)."""
    from codeclm.local import cache_dir

    return [Path(config.base_dir), cache_dir()]


def record_place(config) -> Path:
    """Where they are written: beside the program, or the cache folder for a program shipped with codeclm."""
    return record_places(config)[1 if getattr(config, "bundled", False) else 0]


def check_fingerprint(**parts: object) -> str:
    """sha256 of everything that shapes the check's decisions (target, scheme, theta, templates, items, code version)."""
    import hashlib

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
