"""Scheme `target-loss`: how hard the strong answer is for the target, read from the target's own log-probabilities.

No judge of quality is asked. The target model scores the strong answer as it would see it
when answering (the Respond template's system text, the instruction, then the answer, in the
target's chat format). The verdict is the target's mean loss, in nats per token, on the tokens
of the answer's NEW words: words that do not appear in the instruction (punctuation and
restated words carry no news: "9 multiplied by 8 equals 72" is judged on "equals 72"). A high
loss means the target would not have written this answer: keep the pair, the target has
something to learn. A low loss means the target already writes it: too easy, improve the
instruction (Self-Rubrics). An answer with no new word scores 0 (nothing to learn).

Measured on the filter check set (docs/judging.md): the mean over all answer tokens separates
"target solves it" from "target fails" with a held-out AUC of 0.79; over the new words, 0.87.
Our deviation from the paper (its judge compares the two answers): small local judges cannot
tell answer quality apart.

Scale: gap = that mean loss (>= 0); the filter keeps when gap > theta. The target's answer is
not needed, so the contrastive filter does not ask for it.
"""

from __future__ import annotations


import dspy

from codeclm.engine.chat_formats import prompt_prefix
from codeclm.errors import CodecLMError, ContextLengthError, EndpointError, PromptScoringUnsupportedError, StepError
from codeclm.judging.schemes import Scheme
from codeclm.judging.token_losses import pack
from codeclm.steps.verdict import OrderVerdict, Verdict, combine
from codeclm.prompting.templates import RenderedPrompt
from codeclm.words import WORD


class TargetLossJudge(dspy.Module):
    """Scores the strong answer under the target model; `lm` is the TARGET's LM (it must offer `score`)."""

    name = "judge"
    scheme: str = ""  # the scheme's name and scale, from its record (set by `build`)
    scale: str = ""
    needs_target_answer = False

    def __init__(self, prompt: RenderedPrompt, lm, chat_template: str = "chatml"):
        super().__init__()
        self.system = prompt.instructions
        self.template_sha256 = prompt.sha256
        self.lm = lm
        self.chat_template = chat_template

    @classmethod
    def build(cls, scheme: Scheme, prompt: RenderedPrompt, lm, *, chat_template: str = "chatml",
              **_judge_settings) -> TargetLossJudge:
        """The judge of `scheme`; it asks no question, so the LLM judges' settings (attempts, sampling) do not apply."""
        judge = cls(prompt, lm, chat_template=chat_template)
        judge.scheme, judge.scale = scheme.name, scheme.scale
        return judge

    @property
    def model_name(self) -> str | None:
        return getattr(self.lm, "model", None)

    def forward(self, instruction: str, strong: str, target: str | None = None, key: str | None = None) -> Verdict:
        prefix = prompt_prefix(self.chat_template, self.system, instruction)
        try:
            scored = self.lm.score(prefix + strong)
        except PromptScoringUnsupportedError:
            raise  # the target cannot be scored at all: one clear error, not one failure per item
        except ContextLengthError as exc:
            raise StepError(self.name, f"too long for the target's context: {exc.reason}", permanent=True) from None
        except EndpointError as exc:
            raise StepError(self.name, str(exc), endpoint_failure=True) from None
        except CodecLMError:
            raise
        except Exception as exc:  # noqa: BLE001 - an unexpected reply ends this item, not the run
            raise StepError(self.name, f"scoring failed: {type(exc).__name__}: {exc}") from exc
        answer_tokens = [(lp, offset - len(prefix)) for lp, offset in zip(scored.logprobs, scored.offsets) if offset >= len(prefix)]
        if not answer_tokens:
            raise StepError(self.name, "the target scored no answer token (check the target's chat_template)")
        losses = new_word_losses(instruction, strong, answer_tokens)
        loss = sum(losses) / len(losses) if losses else 0.0
        raw = f"{len(losses)} of {len(answer_tokens)} answer tokens in new words, mean loss {loss:.3f} nats"
        order = OrderVerdict(order="target-loss", strong=loss, target=0.0, raw=raw, tokens=pack(answer_tokens))
        return combine([order], self.scheme, self.scale)


def new_word_losses(instruction: str, answer: str, tokens: list[tuple[float | None, int]]) -> list[float]:
    """Losses of the answer tokens that fall in a word the instruction does not contain.

    `tokens`: (log-probability, offset in `answer`) in order; a token belongs to the words its
    span overlaps (case-insensitive, letters and digits of any script).
    """
    asked = {w.lower() for w in WORD.findall(instruction)}
    new_words = [(m.start(), m.end()) for m in WORD.finditer(answer) if m.group().lower() not in asked]
    ends = [offset for _, offset in tokens[1:]] + [len(answer)]
    losses, w = [], 0
    for (logprob, start), end in zip(tokens, ends):
        while w < len(new_words) and new_words[w][1] <= start:
            w += 1
        if logprob is not None and w < len(new_words) and new_words[w][0] < max(end, start + 1):
            losses.append(-logprob)
    return losses
