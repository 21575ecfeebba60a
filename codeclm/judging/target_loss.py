"""Scheme `target-loss`: how hard the strong answer is for the target, read from the target's own log-probabilities.

No judge of quality is asked. The target model scores the strong answer as it would see it
when answering (the Respond template's system text, the instruction, then the answer, in the
target's chat format); the verdict is the mean loss per answer token, in nats. A high loss
means the target would not have written this answer: keep the pair, the target has something
to learn. A low loss means the target already writes such answers: too easy, improve the
instruction (Self-Rubrics). Our deviation from the paper (its judge compares the two answers):
small local judges cannot tell answer quality apart (docs/judging.md has the measurements).

Scale: gap = mean loss (>= 0); the filter keeps when gap > theta. The target's answer is not
needed, so the contrastive filter does not ask for it.
"""

from __future__ import annotations

import dspy

from codeclm.chat_formats import prompt_prefix
from codeclm.errors import CodecLMError, ContextLengthError, EndpointError, PromptScoringUnsupportedError, StepError
from codeclm.judging.verdict import OrderVerdict, Verdict, combine
from codeclm.templates import RenderedPrompt


class TargetLossJudge(dspy.Module):
    """Scores the strong answer under the target model; `lm` is the TARGET's LM (it must offer `score`)."""

    name = "judge"
    scheme = "target-loss"
    scale = "mean loss per answer token of the strong answer under the target (nats), >= 0"
    needs_target_answer = False

    def __init__(self, prompt: RenderedPrompt, lm, chat_template: str = "chatml"):
        super().__init__()
        self.system = prompt.instructions
        self.template_sha256 = prompt.sha256
        self.lm = lm
        self.chat_template = chat_template

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
        losses = [-lp for lp, offset in zip(scored.logprobs, scored.offsets) if lp is not None and offset >= len(prefix)]
        if not losses:
            raise StepError(self.name, "the target scored no answer token (check the target's chat_template)")
        loss = sum(losses) / len(losses)
        order = OrderVerdict(order="target-loss", strong=loss, target=0.0, raw=f"{len(losses)} answer tokens, mean loss {loss:.3f} nats")
        return combine([order], self.scheme, self.scale)
