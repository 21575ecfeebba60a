"""The filter's labelled check set: instructions the pipeline made, both answers, and the decision a reader gave.

Each item was made by the pipeline's own Encode / Decode / Improve / Respond from the seed splits
(never a split `codeclm eval` scores) and labelled by two blind readers (docs/filter_labels.md):
`invalid` (the instruction cannot be answered as given), `bad_answer` (the strong answer is not fit to
train on), `keep` (the target's answer is clearly worse) or `send_back` (about as good). The labels are
frozen: the file's sha256 is pinned here, and loading refuses a changed file. The `dev` split is where
thresholds are fit (`codeclm judge calibrate`); the `check` split is what the filter check measures.

keep / send_back depend on the target that answered: the bundled labels hold for LABELLED_TARGET only.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from codeclm.steps.guards import Answer, check
from codeclm.check.cases import CheckSetError, read_items

Label = Literal["invalid", "bad_answer", "keep", "send_back"]
LABELLED_TARGET = "qwen2.5-coder-0.5b-instruct"
BUNDLED_SHA256 = "90bf83c52451a758822bf30cc5f1b8ada2a5e2c6784694da12188a95c0fae04b"  # benchmarks/filter_set/FROZEN: frozen before any signal was computed


class StoredAnswer(BaseModel):
    text: str
    finish_reason: str | None = None
    completion_tokens: int | None = None
    max_tokens: int | None = None

    def answer(self, instruction: str) -> Answer:
        """As the filter meets it: the guards of today's code applied to the stored text (an answer to `instruction`)."""
        return Answer(text=self.text, finish_reason=self.finish_reason, completion_tokens=self.completion_tokens,
                      max_tokens=self.max_tokens, guard=check(self.text, self.finish_reason, instruction))


class LabelledItem(BaseModel):
    """One labelled item: the instruction, both answers as made in a run, the reader's label and reason."""

    id: str
    instruction: str
    strong: StoredAnswer
    target: StoredAnswer | None = None
    label: Label
    reason: str = ""
    split: Literal["dev", "check"] = "check"
    family: str = "open-ended"
    metadata: dict = {}
    iteration: int = 1

    @property
    def use_case(self) -> str:
        return str(self.metadata.get("use_case", self.family))


def bundled_labelled_path() -> Path:
    return Path(str(resources.files("codeclm") / "datasets" / "check" / "labelled.jsonl"))


def load_labelled(path: str | Path | None = None, split: str | None = "check") -> list[LabelledItem]:
    """The items of `split` (None: all) from `path` (default: the bundled, frozen set); CheckSetError names file:line."""
    bundled = path is None
    path = Path(path) if path else bundled_labelled_path()
    if not path.is_file():
        raise CheckSetError(f"{path}: labelled check set not found; fix judging.check.items or remove it to use the bundled set")
    if bundled and BUNDLED_SHA256 and hashlib.sha256(path.read_bytes()).hexdigest() != BUNDLED_SHA256:
        raise CheckSetError(f"{path}: the bundled labels changed after they were frozen (sha256 differs); reinstall codeclm")
    items = read_items(path, LabelledItem, "a labelled item", "id, instruction, strong {text, finish_reason}, "
                                                              "target {text}, label: invalid|bad_answer|keep|send_back")
    return [i for i in items if split is None or i.split == split]
