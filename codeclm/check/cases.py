"""The filter check set: tasks with a checkable answer, so the right filter decision is known.

Each item has an instruction, a correct strong answer, and what a correct answer must contain
(a number, or words). At check time the target answers each item itself (temperature 0); a
deterministic checker says whether it solved it. The right decision follows: keep the strong
answer where the target fails (it has something to learn), send it back where the target
solves it (too easy). The bundled set (codeclm/datasets/check/filter_check.jsonl) has a `dev` split,
used once to choose each scheme's default theta, and a held-out `check` split, which
`codeclm judge check` and every run measure.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from codeclm.errors import CodecLMError
from codeclm.output.jsonl import JsonlError, validated_rows

_NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}


class CheckSetError(CodecLMError):
    """A check set file that is missing, malformed, or too small to tell anything."""


class CheckItem(BaseModel):
    id: str
    family: str = "all"
    instruction: str
    answer: str  # a correct strong answer
    expect: dict[str, Any]  # {"number": 63} | {"any": ["paris"]} | {"all": ["ich", "liebe"]}
    answer_source: str = ""
    split: Literal["dev", "check"] = "check"


def numbers(text: str) -> list[float]:
    """Numbers written in digits (thousands separators allowed) or as small number words."""
    found = [float(x.replace(",", "")) for x in re.findall(r"-?\d[\d,]*\.?\d*", text) if re.search(r"\d", x)]
    return found + [float(v) for w, v in _NUMBER_WORDS.items() if re.search(rf"\b{w}\b", text.lower())]


def solved(item: CheckItem, answer: str) -> bool:
    """Does `answer` contain what a correct answer must? Numbers copied from the question do not count,
    unless the answer ends on the expected number."""
    if "number" in item.expect:
        value, found = float(item.expect["number"]), numbers(answer)
        asked = set(numbers(item.instruction))
        return any(abs(n - value) < 1e-6 for n in found if n not in asked) or (bool(found) and abs(found[-1] - value) < 1e-6)
    words = item.expect.get("any") or item.expect.get("all") or []
    case_sensitive = any(c.isupper() for c in "".join(words))
    text = answer if case_sensitive else answer.lower()
    hits = [re.search(rf"\b{re.escape(w)}\b", text) is not None for w in words]
    return any(hits) if "any" in item.expect else bool(hits) and all(hits)


def bundled_path() -> Path:
    return Path(str(resources.files("codeclm") / "datasets" / "check" / "filter_check.jsonl"))


def read_items(path: Path, model: type[BaseModel], what: str, needs: str) -> list:
    """Every line of `path` as `model`; CheckSetError naming file:line and what a line `needs`."""
    try:
        return validated_rows(path, model, what=what, fix=f"fix or delete that line (each line needs {needs})")
    except JsonlError as exc:
        raise CheckSetError(str(exc)) from None


def load_check_items(path: str | Path | None = None, split: str | None = "check") -> list[CheckItem]:
    """The items of `split` (None: all) from `path` (default: the bundled set); CheckSetError names file:line."""
    path = Path(path) if path else bundled_path()
    if not path.is_file():
        raise CheckSetError(f"{path}: check set not found; fix judging.check.items or remove it to use the bundled set")
    items = read_items(path, CheckItem, "a check item", "id, instruction, answer, expect")
    return [i for i in items if split is None or i.split == split]
