"""The exceptions codeclm raises: each message is one line that names the file, field or step and the fix."""


class CodecLMError(Exception):
    """Base class: a user-facing error whose message says what to fix."""


class ConfigError(CodecLMError):
    """A program YAML that is missing, malformed or has a bad key or value."""


class SeedsError(CodecLMError):
    """A seeds file that is missing, empty, malformed or lacks the configured field."""


class TemplateError(CodecLMError):
    """A prompt template that is missing, fails to parse or uses an undefined variable."""


class StepError(CodecLMError):
    """One item failed in one step (unparseable LLM answer, endpoint error); the run goes on."""

    def __init__(self, step: str, reason: str, endpoint_failure: bool = False, permanent: bool = False):
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason
        self.endpoint_failure = endpoint_failure
        self.permanent = permanent  # the same request would fail again: drop the item for good, not retried next run


class EndpointError(CodecLMError):
    """An LLM endpoint that cannot be reached or keeps failing."""


class LocalModelError(CodecLMError):
    """Embedded local model problems: missing or corrupt weights, a server that will not start."""


class JudgeCalibrationError(CodecLMError):
    """The judge cannot tell a known-better answer from a worse one; its verdicts would be noise."""


class EndpointConnectionError(EndpointError):
    """The endpoint refused the connection or dropped it before a complete reply."""


class MalformedReplyError(EndpointError):
    """An HTTP 200 whose body is not JSON or has no usable ``choices[0]`` (retried, never cached)."""


class EndpointTimeoutError(EndpointError):
    """A streamed request ran past its timeout and was cancelled on the server (not retried)."""


class RetryAfterTooLongError(EndpointError):
    """The server asked to wait longer before a retry (Retry-After) than the retry policy allows (not retried)."""


class QuotaExhaustedError(EndpointError):
    """The account's quota or credit is used up (HTTP 429 ``insufficient_quota``): waiting does not help."""


class PromptScoringUnsupportedError(EndpointError):
    """The endpoint does not return prompt log-probabilities (``/completions`` with echo and logprobs)."""


# The servers that can score prompts: named in that error's fix (codeclm.engine.score) and the filter check's.
SCORE_SERVERS = "codeclm's embedded local model or vLLM (docs/servers.md)"


class RequestDroppedError(StepError):
    """A request the provider refused in a way that repeats (e.g. a refused prompt in a batch): like
    ContextLengthError, its item is dropped for good with the reason; the step re-raises it under its name."""

    def __init__(self, reason: str):
        super().__init__("request", reason, endpoint_failure=False, permanent=True)


class ContextLengthError(StepError):
    """The prompt (plus room for the answer) does not fit the model's context window.

    Never retried (the same request fails again) and not an endpoint failure: it is a
    StepError with ``endpoint_failure=False`` and ``permanent=True``, so the run drops this
    one item with its reason for good (a rerun does not try it again) and goes on. ``step`` is "context length" until a step re-raises it under its own
    name; ``tokens`` and ``limit`` are None when the server did not say them.
    """

    def __init__(self, message: str, *, tokens: int | None = None, limit: int | None = None):
        super().__init__("context length", message, endpoint_failure=False, permanent=True)
        self.tokens = tokens
        self.limit = limit
        self.retryable = False


class OptimizeError(CodecLMError):
    """An optimization that cannot run: unsupported step or optimizer, too few examples, a missing extra."""


class BudgetReached(CodecLMError):
    """A run reached one of its caps (max_usd, max_calls, max_tokens, max_seconds): no further call is made.

    Not a StepError: it stops the run (finished records stay, a rerun with a higher cap resumes), it does
    not fail the item that was about to call."""

    def __init__(self, message: str, cap: str = ""):
        super().__init__(message)
        self.cap = cap
