"""An in-memory provider batch API and a two-step item for BatchExecutor tests (no HTTP).

`FakeBatchAPI` answers each line with `responder(question)` in DSPy's chat format; `fate(line, n)`
(n: 1 for a request's first batch, 2 for its second) makes a request errored, expired, cancelled,
transient (HTTP 500 in the batch) or too long for the context. Items run real `Step`s on a real
EngineLM whose endpoint is a dead port: a call that escaped the batch would fail loudly.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import dspy
from fakes import field_value

from codeclm.engine import CallCache, EngineLM, RetryPolicy, UsageLedger
from codeclm.executors.batch_provider import BatchState, RequestResult, UnbatchableRequest
from codeclm.steps.base import Step
from codeclm.prompting.templates import RenderedPrompt

DEAD = "http://127.0.0.1:9/v1"


def chat_reply(content: str, prompt_tokens: int = 20, completion_tokens: int = 5) -> dict[str, Any]:
    return {"id": "chatcmpl-batch", "object": "chat.completion", "model": "stub-model",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def question(line: dict[str, Any]) -> str:
    """The question a batch line asks (its `question` field in DSPy's chat format)."""
    return field_value(line["body"]["messages"], "question")


def answer_field(text: str) -> str:
    return f"[[ ## answer ## ]]\n{text}\n\n[[ ## completed ## ]]"


class FakeBatchAPI:
    """A provider batch API in memory: batches end after `polls` in-progress polls."""

    name = "fake"
    ident = "fake http://fake"
    max_requests = 1000
    max_bytes = 10**9
    prefix = "batch_"  # batch ids: a second fake standing for a later run gets its own

    def __init__(self, responder: Callable[[str], str] | None = None, fate: Callable[[dict, int], str | None] | None = None,
                 polls: int = 1, failed_batch: str | None = None, unbatchable: Callable[[Any], str | None] | None = None,
                 queue_limit: int | None = None, result: Callable[[dict], RequestResult | None] | None = None):
        self.responder = responder or (lambda question: answer_field(f"A:{question}"))
        self.fate = fate or (lambda line, n: None)
        self.polls = polls
        self.failed_batch = failed_batch
        self.unbatchable = unbatchable
        self.queue_limit = queue_limit  # a batch of more requests fails as OpenAI's does when the queue is full
        self.result = result  # batch line -> a result to return instead of the fate's (None: the fate's)
        self.batches: dict[str, dict[str, Any]] = {}
        self.polled: list[str] = []
        self.seen: Counter = Counter()  # custom_id -> batches it went into
        self.closed = False

    @property
    def submitted(self) -> list[list[dict[str, Any]]]:
        return [b["lines"] for b in self.batches.values()]

    def group(self, request):
        return request.model

    def prepare(self, request) -> dict[str, Any]:
        reason = self.unbatchable(request) if self.unbatchable else None
        if reason:
            raise UnbatchableRequest(reason)
        return {"custom_id": request.key, "body": request.body}

    def submit(self, lines, *, label: str) -> BatchState:
        batch_id = f"{self.prefix}{len(self.batches) + 1}"
        numbers = {}
        for line in lines:
            self.seen[line["custom_id"]] += 1
            numbers[line["custom_id"]] = self.seen[line["custom_id"]]
        self.batches[batch_id] = {"lines": list(lines), "label": label, "polls_left": self.polls, "numbers": numbers}
        return BatchState(batch_id, "validating", False)

    def poll(self, batch_id: str) -> BatchState:
        self.polled.append(batch_id)
        batch = self.batches[batch_id]
        if batch["polls_left"] > 0:
            batch["polls_left"] -= 1
            return BatchState(batch_id, "in_progress", False, counts={"total": len(batch["lines"])})
        if self.queue_limit is not None and len(batch["lines"]) > self.queue_limit:
            return BatchState(batch_id, "failed", True, detail={"queue_full": True}, queue_full=True,
                              error="the batch failed: token_limit_exceeded: Enqueued token limit reached for "
                                    "gpt-4o-mini in organization org-x. Limit: 90,000 enqueued tokens.")
        fates = [self.fate(line, batch["numbers"][line["custom_id"]]) for line in batch["lines"]]
        status = "expired" if "expired" in fates else "completed"
        error = self.failed_batch
        return BatchState(batch_id, "failed" if error else status, True, error=error,
                          missing="expired" if status == "expired" else "errored")

    def results(self, state: BatchState):
        batch = self.batches[state.id]
        for line in batch["lines"]:
            key = line["custom_id"]
            custom = self.result(line) if self.result else None
            if custom is not None:
                yield RequestResult(key, custom.kind, error=custom.error, code=custom.code, status=custom.status)
                continue
            fate = self.fate(line, batch["numbers"][key])
            if fate == "expired":
                continue  # as OpenAI: an expired batch has no result line for requests it never ran
            if fate == "errored":
                yield RequestResult(key, "errored", error="HTTP 400: invalid_request_error: bad request", status=400)
            elif fate == "transient":
                yield RequestResult(key, "errored", error="HTTP 500: server error", status=500)
            elif fate == "context":
                yield RequestResult(key, "errored", error="This model's maximum context length is 100 tokens. However, "
                                    "your messages resulted in 250 tokens.", code="context_length_exceeded", status=400)
            elif fate == "canceled":
                yield RequestResult(key, "canceled", error="the request was canceled before it ran")
            else:
                messages = line["body"]["messages"]
                yield RequestResult(key, "succeeded", reply=chat_reply(self.responder(field_value(messages, "question"))))

    def close(self) -> None:
        self.closed = True


class QA(Step):
    """question -> answer, validated: an answer must not be empty."""

    name = "answer"
    signature = dspy.Signature("question -> answer")

    def __init__(self, lm, name: str = "answer"):
        super().__init__(RenderedPrompt(name, "Answer the question."), lm, max_attempts=2, temperature=0.0, max_tokens=50)
        self.name = name


def nonempty(prediction) -> str:
    if not str(prediction.answer or "").strip():
        raise ValueError("empty answer")
    return str(prediction.answer)


def two_steps(lm):
    """An item with two calls in sequence: answer the question, then answer a follow-up built from it."""
    first, second = QA(lm, "answer"), QA(lm, "follow_up")

    def fn(question: str) -> str:
        answer = first.ask(question, nonempty, question=question)
        return second.ask(question, nonempty, question=f"again: {answer}")

    return fn


def make_lm(cache: CallCache, ledger: UsageLedger | None = None, role: str = "strong", api_base: str = DEAD,
            model: str = "openai/stub-model") -> EngineLM:
    return EngineLM(model, api_base=api_base, api_key="sk-test-batch-0123456789", role=role, cache=cache, ledger=ledger,
                    retry=RetryPolicy(max_tries=1, timeout=5.0))
