"""What every LLM step shares: a predictor built from its template, its role's LM, bounded re-asks."""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from contextvars import ContextVar
from typing import Any, Callable, TypeVar

import dspy
from pydantic import ValidationError

from codeclm.engine.deferred import deferred_cache
from codeclm.errors import CodecLMError, ContextLengthError, EndpointError, RequestDroppedError, StepError
from codeclm.prompting.templates import RenderedPrompt

T = TypeVar("T")

# Answers that do not parse or validate; the step asks again (new rollout), then gives up.
INVALID_ANSWER = (ValueError, ValidationError, dspy.utils.exceptions.AdapterParseError)


ACTIVE_STEP: ContextVar["Step | None"] = ContextVar("codeclm_active_step", default=None)
"""The step whose LM call is in flight (set around each attempt): for logs, accounting and test fakes."""


def rollout_id(*parts: Any) -> int:
    """A stable integer for an (item, attempt): keys the LLM cache so reruns reproduce the data."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:6], "big")


class Step(dspy.Module):
    """A CodecLM step: one `dspy.Predict` whose instructions and demos come from a template."""

    name: str = "step"
    signature: type[dspy.Signature]
    adapter: dspy.Adapter | None = None  # None: DSPy's configured adapter (ChatAdapter)

    def __init__(self, prompt: RenderedPrompt, lm: dspy.BaseLM | None = None, max_attempts: int = 3, seed: int | None = None,
                 **lm_config):
        super().__init__()
        self.predict = dspy.Predict(self.signature.with_instructions(prompt.instructions))
        self.predict.demos = [dspy.Example(**demo) for demo in prompt.demos]
        self.template_sha256 = prompt.sha256
        self.lm = lm
        self.lm_config = lm_config
        self.max_attempts = max_attempts
        self.seed = seed  # the program's seed: each call's sampler seed derives from it (where the endpoint takes one)

    @property
    def model_name(self) -> str | None:
        return getattr(self.lm, "model", None)

    def ask(self, key: Any, validate: Callable[[dspy.Prediction], T], lm_config: dict[str, Any] | None = None, **inputs: Any) -> T:
        """Call the predictor and validate its answer; re-ask up to `max_attempts` times.

        `key` identifies the item, so each attempt is its own cache entry. Settings: the step's, then the
        model's own (ModelSpec), then `lm_config` for this call.
        Raises StepError naming this step when no attempt gives a valid answer.
        """
        problem = "no attempt made"
        overrides = getattr(self.lm, "overrides", None) or {}  # the model's own settings (ModelSpec) win
        for attempt in range(self.max_attempts):
            config = dict(self.lm_config, rollout_id=rollout_id(self.name, key, attempt))
            if self.seed is not None:
                config["seed"] = rollout_id(self.seed, self.name, key, attempt) & 0x7FFFFFFF
            if attempt and not config.get("temperature"):
                config["temperature"] = 0.7  # a deterministic re-ask would repeat the same bad answer
            config.update(overrides)
            config.update(lm_config or {})
            token = ACTIVE_STEP.set(self)
            try:
                with self._context(), deferred_cache() as pending:  # a reply that fails validation is never cached
                    result = validate(self.predict(**inputs, config=config))
                    pending.commit()
                    return result
            except INVALID_ANSWER as exc:
                problem = _one_line(exc)
            except EndpointError as exc:  # retried below us already; this item fails, the run goes on
                raise StepError(self.name, str(exc), endpoint_failure=True) from None
            except ContextLengthError as exc:  # the same request fails again: this item is dropped for good
                raise StepError(self.name, f"too long for the model's context: {exc.reason}", permanent=True) from None
            except RequestDroppedError as exc:  # refused for good by its provider (e.g. in a batch): dropped too
                raise StepError(self.name, exc.reason, permanent=True) from None
            except CodecLMError:
                raise
            except Exception as exc:  # noqa: BLE001 - an unexpected reply or bug ends this item, not the run
                raise StepError(self.name, f"{type(exc).__name__}: {_one_line(exc)}") from exc
            finally:
                ACTIVE_STEP.reset(token)
        raise StepError(self.name, f"no valid answer after {self.max_attempts} attempts: {problem}")

    def _context(self):
        settings = {k: v for k, v in (("lm", self.lm), ("adapter", self.adapter)) if v is not None}
        return dspy.context(**settings) if settings else nullcontext()


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
