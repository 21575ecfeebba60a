"""Filters of the baselines: ROUGE-L near-duplicates (Self-Instruct) and Evol-Instruct's elimination rules."""

from __future__ import annotations

import re
import threading

from rouge_score import rouge_scorer

# Self-Instruct (Wang et al., 2022, Sec. 2.3): instructions an LLM cannot act on in text.
UNSUITABLE_WORDS = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
                    "draw", "plot", "go to", "video", "audio", "flowchart", "diagram")
PROMPT_MARKERS = ("#given prompt#", "#rewritten prompt#", "#created prompt#", "given prompt", "rewritten prompt", "created prompt")


class NearDuplicates:
    """A growing pool; `match` gives the most similar pool instruction when ROUGE-L F1 exceeds the threshold."""

    def __init__(self, threshold: float = 0.7, pool: list[str] | None = None):
        self.threshold = threshold
        self.scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        self.pool: list[str] = []
        self._lock = threading.Lock()
        for text in pool or []:
            self.add(text)

    def add(self, text: str) -> None:
        with self._lock:
            self.pool.append(text)

    def nearest(self, text: str) -> tuple[float, str | None]:
        best, match = 0.0, None
        for other in list(self.pool):
            score = self.scorer.score(other, text)["rougeL"].fmeasure
            if score > best:
                best, match = score, other
        return best, match

    def match(self, text: str) -> tuple[float, str] | None:
        score, other = self.nearest(text)
        return (score, other) if other is not None and score > self.threshold else None


def unsuitable(text: str, min_words: int = 3, max_words: int = 150) -> str | None:
    """Self-Instruct's heuristic filters; the reason, or None when the instruction is fine."""
    words = text.split()
    if len(words) < min_words:
        return f"too short ({len(words)} words)"
    if len(words) > max_words:
        return f"too long ({len(words)} words)"
    lowered = text.lower()
    for word in UNSUITABLE_WORDS:
        if re.search(rf"\b{re.escape(word)}\b", lowered):
            return f"needs a non-text modality ('{word}')"
    if not text[0].isalnum() and text[0] not in "\"'(":
        return "starts with punctuation"
    return None


def eliminated(original: str, evolved: str, response: str | None = None) -> str | None:
    """Evol-Instruct's elimination (Xu et al., 2023, Sec. 3.3) as heuristics; the reason, or None to keep.

    WizardLM asks ChatGPT whether the evolution adds information; we drop exact copies instead.
    """
    if " ".join(evolved.lower().split()) == " ".join(original.lower().split()):
        return "no information gain: evolved instruction equals the original"
    lowered = evolved.lower()
    if any(marker in lowered for marker in PROMPT_MARKERS):
        return "copied words from the evolving prompt"
    if response is not None:
        if "sorry" in response.lower() and len(response.split()) < 80:
            return "the answer is a short refusal ('sorry')"
        if not re.search(r"[A-Za-z0-9]", response):
            return "the answer is only punctuation"
    return None
