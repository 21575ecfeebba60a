"""The calls the batch cassette tests make, shared by the tests and by the script that writes their cassettes."""

from __future__ import annotations

from codeclm.engine import CallCache, EngineLM, RetryPolicy, UsageLedger
from codeclm.errors import EndpointError, RequestDroppedError, StepError

SECRET = "sk-test-batch-cassette-0123456789"
OPENAI_MODEL = "openai/gpt-4o-mini"
ANTHROPIC_MODEL = "anthropic/claude-3-5-haiku-latest"
SYSTEM = "Answer in one short sentence."
QUESTIONS = ["What is the capital of France?", "What is 6 times 7?", "Name a prime number above 10."]


def make_lm(model: str, cache: CallCache, ledger: UsageLedger | None = None) -> EngineLM:
    """The strong model at its provider's default endpoint (no network in tests: batches answer every call)."""
    return EngineLM(model, api_key=SECRET, role="strong", cache=cache, ledger=ledger, retry=RetryPolicy(max_tries=1))


def asker(lm: EngineLM):
    """One item = one chat call, failing as a step fails (StepError naming the step)."""

    def ask(question: str) -> str:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        try:
            reply = lm.forward(messages=messages, temperature=0.0, max_tokens=32)
        except RequestDroppedError as exc:  # as codeclm.steps.base: dropped for good, under the step's name
            raise StepError("answer", exc.reason, permanent=True) from None
        except StepError:
            raise
        except EndpointError as exc:
            raise StepError("answer", str(exc), endpoint_failure=True) from None
        return reply.choices[0].message.content

    return ask
