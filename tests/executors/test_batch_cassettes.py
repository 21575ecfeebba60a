"""Provider batch APIs replayed from cassettes: the request shapes on the wire and every way a batch ends.

These cassettes were written from the API reference, not recorded: there is no API key or
network here. `write_batch_cassettes.py` (beside this file) writes them from the documented
request and response shapes (OpenAI Batch API and Files API; Anthropic Message Batches); the
cache keys in them (each request's custom_id) come from the engine. Requests match on method,
path and body, so a change in what the executor sends fails here; a request that is not in the
cassette (e.g. a second batch create after a restart) fails too.
Runs against: cassettes hand-written from the OpenAI and Anthropic API references (not recorded).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from batch_cassette_calls import ANTHROPIC_MODEL, OPENAI_MODEL, QUESTIONS, SECRET, asker, make_lm

from codeclm.engine import RetryPolicy, UsageLedger
from codeclm.executors.batch import BatchExecutor
from codeclm.executors.batch_anthropic import AnthropicBatches
from codeclm.executors.batch_openai import OpenAIBatches
from codeclm.executors.batch_store import BatchStore

pytestmark = [pytest.mark.vcr,
              pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")]

NO_RETRY = RetryPolicy(max_tries=1)


class Wire:
    """What the providers put on the wire (an httpx request hook), checked for keys against the cassette."""

    def __init__(self, cassette: Path):
        text = cassette.read_text()
        assert SECRET not in text and "authorization" not in text.lower() and "x-api-key" not in text.lower()
        self.requests: list[httpx.Request] = []

    def client(self) -> httpx.Client:
        def record(request: httpx.Request) -> None:
            request.read()
            assert SECRET.encode() not in request.content
            self.requests.append(request)

        return httpx.Client(event_hooks={"request": [record]})

    def sent(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests]

    def posted(self, path_end: str) -> list[bytes]:
        return [r.content for r in self.requests if r.method == "POST" and r.url.path.endswith(path_end)]

    def uploaded_lines(self, number: int) -> list[dict]:
        """The JSONL lines of the `number`-th file upload (1-based)."""
        part = self.posted("/files")[number - 1].split(b"\r\n\r\n")[-1].rsplit(b"\r\n--", 1)[0]
        return [json.loads(line) for line in part.decode().splitlines()]


@pytest.fixture
def wire(vcr, vcr_cassette_dir, request) -> Wire:
    return Wire(Path(vcr_cassette_dir) / f"{request.node.name}.yaml")


def openai(wire: Wire) -> OpenAIBatches:
    return OpenAIBatches(SECRET, retry=NO_RETRY, client=wire.client())


def anthropic(wire: Wire) -> AnthropicBatches:
    return AnthropicBatches(SECRET, retry=NO_RETRY, client=wire.client())


def run(provider, cache, questions, ledger=None, sleep=lambda s: None):
    store = BatchStore(cache.path)  # a new one per call, as a new process would open
    try:
        executor = BatchExecutor({"strong": provider}, store, ledger=ledger, poll_seconds=0, sleep=sleep)
        model = OPENAI_MODEL if isinstance(provider, OpenAIBatches) else ANTHROPIC_MODEL
        return executor.map("answer", asker(make_lm(model, cache, ledger)), questions)
    finally:
        store.close()


def test_openai_batch_round_trip(cache, vcr, wire):
    """Upload, create, poll in_progress -> completed, download the output file, map results back by custom_id."""
    ledger = UsageLedger({"strong": (0.15, 0.60)})
    outcomes = run(openai(wire), cache, QUESTIONS[:2], ledger)
    assert [o.value for o in outcomes] == ["The capital of France is Paris.", "6 times 7 is 42."]
    assert wire.sent() == [("POST", "/v1/files"), ("POST", "/v1/batches"), ("GET", "/v1/batches/batch_6720a1b2c3"),
                      ("GET", "/v1/batches/batch_6720a1b2c3"), ("GET", "/v1/files/file-out-7a9c/content")]
    lines = wire.uploaded_lines(1)
    assert [(line["method"], line["url"], line["body"]["model"]) for line in lines] == [("POST", "/v1/chat/completions", "gpt-4o-mini")] * 2
    assert all(len(line["custom_id"]) == 64 for line in lines)  # the call's cache key
    strong = ledger.summary()["roles"]["strong"]
    assert (strong["batch_calls"], strong["prompt_tokens"], strong["completion_tokens"]) == (2, 50, 17)
    assert strong["cost"] == pytest.approx(0.5 * (50 * 0.15 + 17 * 0.60) / 1e6)
    assert vcr.all_played


def test_openai_failed_item_in_a_batch(cache, vcr, wire):
    """A completed batch whose error file holds one request's HTTP 400 string_above_max_length: the same request
    fails again, so that item is dropped for good with the provider's message and the reason (batch_errors.py)."""
    outcomes = run(openai(wire), cache, QUESTIONS)
    assert [o.ok for o in outcomes] == [True, True, False]
    failed = outcomes[2]
    assert failed.stage == "answer" and not failed.endpoint_failure and failed.permanent
    assert "openai batch batch_6720f00d01: HTTP 400: Invalid 'messages[1].content'" in failed.error
    assert failed.error.endswith("a message is longer than OpenAI accepts; this item is dropped")
    assert wire.sent()[-2:] == [("GET", "/v1/files/file-out-f00d/content"), ("GET", "/v1/files/file-err-f00d/content")]
    assert vcr.all_played


def test_openai_expired_batch_resubmits_its_unfinished_requests_once(cache, vcr, wire, caplog):
    """An expired batch: its finished request is used, the one it never ran goes out again in a new batch."""
    outcomes = run(openai(wire), cache, QUESTIONS[:2])
    assert [o.value for o in outcomes] == ["The capital of France is Paris.", "6 times 7 is 42."]
    assert [method_path for method_path in wire.sent() if method_path[0] == "POST"] == [("POST", "/v1/files"), ("POST", "/v1/batches")] * 2
    first, second = wire.uploaded_lines(1), wire.uploaded_lines(2)
    assert len(first) == 2 and [line["custom_id"] for line in second] == [first[1]["custom_id"]]
    assert "1 requests of openai batch batch_6720e1 (expired) did not run" in caplog.text
    assert vcr.all_played


def test_openai_restart_polls_the_half_finished_batch_instead_of_submitting_again(cache, vcr, wire):
    """The first process stops while its batch is in progress; the restarted one finds it in the store and polls it."""

    def stop(seconds):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(openai(wire), cache, QUESTIONS[:2], sleep=stop)
    assert wire.sent() == [("POST", "/v1/files"), ("POST", "/v1/batches"), ("GET", "/v1/batches/batch_6720beef01")]

    outcomes = run(openai(wire), cache, QUESTIONS[:2])  # a new store on the same file
    assert [o.value for o in outcomes] == ["The capital of France is Paris.", "6 times 7 is 42."]
    assert [m for m, _ in wire.sent()].count("POST") == 2  # one upload and one create, in the first process only
    assert wire.sent()[3:] == [("GET", "/v1/batches/batch_6720beef01"), ("GET", "/v1/files/file-out-beef/content")]
    assert vcr.all_played


def test_anthropic_batch_round_trip(cache, vcr, wire):
    """Create with Messages params (system apart, max_tokens), poll in_progress -> ended, read results_url,
    map each Message back to an OpenAI chat completion (max_tokens -> finish_reason length)."""
    ledger = UsageLedger({"strong": (0.8, 4.0)})
    outcomes = run(anthropic(wire), cache, QUESTIONS[:2], ledger)
    assert [o.value for o in outcomes] == ["Paris is the capital of France.", "6 times 7 is"]
    assert wire.sent() == [("POST", "/v1/messages/batches"), ("GET", "/v1/messages/batches/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"),
                      ("GET", "/v1/messages/batches/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"),
                      ("GET", "/v1/messages/batches/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d/results")]
    created = json.loads(wire.posted("/batches")[0])
    params = created["requests"][0]["params"]
    assert params == {"model": "claude-3-5-haiku-latest", "max_tokens": 32, "system": "Answer in one short sentence.",
                      "temperature": 0.0, "messages": [{"role": "user", "content": QUESTIONS[0]}]}
    key = created["requests"][1]["custom_id"]
    assert cache.get(key)["choices"][0]["finish_reason"] == "length"
    strong = ledger.summary()["roles"]["strong"]
    assert (strong["batch_calls"], strong["prompt_tokens"], strong["completion_tokens"]) == (2, 48, 15)
    assert vcr.all_played


def test_anthropic_errored_and_expired_requests(cache, vcr, wire, caplog):
    """An ended batch with one errored and one expired result: the errored item fails with Anthropic's message;
    the expired request goes out once more in a new batch and its item finishes."""
    outcomes = run(anthropic(wire), cache, QUESTIONS)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert ("anthropic batch msgbatch_01Errd: the request failed: invalid_request_error: messages.0.content: "
            "the request could not be processed") in outcomes[1].error
    assert outcomes[2].value == "13 is a prime number above 10."
    creates = [json.loads(body) for body in wire.posted("/batches")]
    assert [len(c["requests"]) for c in creates] == [3, 1]
    assert creates[1]["requests"][0]["custom_id"] == creates[0]["requests"][2]["custom_id"]
    assert "submitting them once more in a new batch" in caplog.text
    assert vcr.all_played
