"""Write the cassettes of test_batch_cassettes.py from the providers' documented request and response shapes.

Not recorded: there is no API key or network where these tests were written. Each interaction
below follows the API reference: OpenAI Files (`POST /v1/files`, multipart, purpose=batch;
`GET /v1/files/{id}/content`) and Batches (`POST /v1/batches`, `GET /v1/batches/{id}`, the batch
object, the request-input line and the output / error file lines, including `batch_expired`);
Anthropic Message Batches (`POST /v1/messages/batches`, `GET .../{id}`, the message_batch object,
the results JSONL with succeeded / errored / expired results). Ids, texts and token counts are
made up. The custom_ids are the calls' cache keys, taken from the engine (collect_requests), the
one input from this codebase; the request bodies are spelled out here, not produced by
codeclm/executors/batch_*.py, so the tests check what those modules put on the wire.

Run from the repo root: PYTHONPATH=$PWD python tests/executors/write_batch_cassettes.py
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import yaml

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from batch_cassette_calls import ANTHROPIC_MODEL, OPENAI_MODEL, QUESTIONS, SYSTEM, asker, make_lm  # noqa: E402

from codeclm.engine import CallCache, DeferredCall, collect_requests  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "cassettes" / "test_batch_cassettes"
OPENAI = "https://api.openai.com/v1"
ANTHROPIC = "https://api.anthropic.com/v1/messages/batches"
JSON = {"content-type": ["application/json"]}


def keys(model: str) -> list[str]:
    """The cache key of each question's call (its custom_id), from the engine."""
    found = []
    with tempfile.TemporaryDirectory() as folder:
        cache = CallCache(Path(folder) / "calls.sqlite")
        ask = asker(make_lm(model, cache))
        for question in QUESTIONS:
            with collect_requests():
                try:
                    ask(question)
                except DeferredCall as deferred:
                    found.append(deferred.request.key)
        cache.close()
    return found


def interaction(method: str, uri: str, response, *, body=None, headers=None, status: int = 200) -> dict:
    text = response if isinstance(response, str) else json.dumps(response)
    return {"request": {"body": body or "", "headers": headers or {}, "method": method, "uri": uri},
            "response": {"body": {"string": text}, "headers": {"content-type": ["application/json"]},
                         "status": {"code": status, "message": "OK"}}}


def jsonl(lines: list[dict]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


# -- OpenAI ----------------------------------------------------------------------------------
def openai_line(key: str, question: str) -> dict:
    """A request-input line: custom_id, method, url, and the chat body the direct path would send."""
    return {"custom_id": key, "method": "POST", "url": "/v1/chat/completions",
            "body": {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
                     "model": "gpt-4o-mini", "temperature": 0.0, "max_tokens": 32}}


def upload(lines: list[dict], file_id: str) -> dict:
    content = "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
    digest = hashlib.sha256(content.encode()).hexdigest()
    boundary, filename = f"codeclm-{digest[:32]}", f"codeclm-answer-{digest[:12]}.jsonl"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/jsonl\r\n\r\n{content}\r\n--{boundary}--\r\n")
    return interaction("POST", f"{OPENAI}/files", {
        "id": file_id, "object": "file", "bytes": len(content.encode()), "created_at": 1730150000,
        "filename": filename, "purpose": "batch", "status": "processed", "status_details": None},
        body=body, headers={"content-type": [f"multipart/form-data; boundary={boundary}"]})


def batch(batch_id: str, file_id: str, status: str, total: int, completed: int = 0, failed: int = 0,
          output: str | None = None, errors: str | None = None) -> dict:
    ended = {"completed": "completed_at", "expired": "expired_at"}.get(status)
    return {"id": batch_id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
            "input_file_id": file_id, "completion_window": "24h", "status": status,
            "output_file_id": output, "error_file_id": errors, "created_at": 1730150001,
            "in_progress_at": None if status == "validating" else 1730150010, "expires_at": 1730236401,
            "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
            "cancelled_at": None, **({ended: 1730150500} if ended else {}),
            "request_counts": {"total": total, "completed": completed, "failed": failed},
            "metadata": {"source": "codeclm", "stage": "answer"}}


def create(batch_id: str, file_id: str, total: int) -> dict:
    return interaction("POST", f"{OPENAI}/batches", batch(batch_id, file_id, "validating", total), headers=JSON,
                       body=json.dumps({"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                                        "completion_window": "24h", "metadata": {"source": "codeclm", "stage": "answer"}}))


def poll(batch_id: str, file_id: str, status: str, total: int, **counts) -> dict:
    return interaction("GET", f"{OPENAI}/batches/{batch_id}", batch(batch_id, file_id, status, total, **counts))


def content(file_id: str, lines: list[dict]) -> dict:
    return interaction("GET", f"{OPENAI}/files/{file_id}/content", jsonl(lines))


def succeeded(key: str, number: int, text: str, prompt: int = 25, completion: int = 8) -> dict:
    """An output-file line: the request's HTTP status and the chat completion it returned."""
    return {"id": f"batch_req_{number}", "custom_id": key, "error": None, "response": {
        "status_code": 200, "request_id": f"req_{number}", "body": {
            "id": f"chatcmpl-{number}", "object": "chat.completion", "created": 1730150400,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}}}


ANSWERS = ["The capital of France is Paris.", "6 times 7 is 42.", "13 is a prime number above 10."]


def openai_cassettes(k: list[str]) -> dict[str, list[dict]]:
    two = [openai_line(k[i], QUESTIONS[i]) for i in range(2)]
    three = [openai_line(k[i], QUESTIONS[i]) for i in range(3)]
    too_long = {"id": "batch_req_3", "custom_id": k[2], "error": None, "response": {
        "status_code": 400, "request_id": "req_3", "body": {"error": {
            "message": "Invalid 'messages[1].content': string too long. Expected a string with maximum length "
                       "1048576, but got a string with length 2000000 instead.",
            "type": "invalid_request_error", "param": "messages[1].content", "code": "string_above_max_length"}}}}
    expired = {"id": "batch_req_2", "custom_id": k[1], "response": None, "error": {
        "code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}
    return {
        "test_openai_batch_round_trip": [
            upload(two, "file-in-7a9c"), create("batch_6720a1b2c3", "file-in-7a9c", 2),
            poll("batch_6720a1b2c3", "file-in-7a9c", "in_progress", 2, completed=1),
            poll("batch_6720a1b2c3", "file-in-7a9c", "completed", 2, completed=2, output="file-out-7a9c"),
            content("file-out-7a9c", [succeeded(k[0], 1, ANSWERS[0]), succeeded(k[1], 2, ANSWERS[1], completion=9)]),
        ],
        "test_openai_failed_item_in_a_batch": [
            upload(three, "file-in-f00d"), create("batch_6720f00d01", "file-in-f00d", 3),
            poll("batch_6720f00d01", "file-in-f00d", "completed", 3, completed=2, failed=1,
                 output="file-out-f00d", errors="file-err-f00d"),
            content("file-out-f00d", [succeeded(k[0], 1, ANSWERS[0]), succeeded(k[1], 2, ANSWERS[1])]),
            content("file-err-f00d", [too_long]),
        ],
        "test_openai_expired_batch_resubmits_its_unfinished_requests_once": [
            upload(two, "file-in-e1"), create("batch_6720e1", "file-in-e1", 2),
            poll("batch_6720e1", "file-in-e1", "in_progress", 2),
            poll("batch_6720e1", "file-in-e1", "expired", 2, completed=1, failed=1, output="file-out-e1", errors="file-err-e1"),
            content("file-out-e1", [succeeded(k[0], 1, ANSWERS[0])]),
            content("file-err-e1", [expired]),
            upload(two[1:], "file-in-e2"), create("batch_6720e2", "file-in-e2", 1),
            poll("batch_6720e2", "file-in-e2", "completed", 1, completed=1, output="file-out-e2"),
            content("file-out-e2", [succeeded(k[1], 1, ANSWERS[1])]),
        ],
        "test_openai_restart_polls_the_half_finished_batch_instead_of_submitting_again": [
            upload(two, "file-in-beef"), create("batch_6720beef01", "file-in-beef", 2),
            poll("batch_6720beef01", "file-in-beef", "in_progress", 2),  # the first process stops here
            poll("batch_6720beef01", "file-in-beef", "completed", 2, completed=2, output="file-out-beef"),
            content("file-out-beef", [succeeded(k[0], 1, ANSWERS[0]), succeeded(k[1], 2, ANSWERS[1])]),
        ],
    }


# -- Anthropic ---------------------------------------------------------------------------------
def params(question: str) -> dict:
    """Messages API params: system apart from messages, max_tokens required, the model without its prefix."""
    return {"model": "claude-3-5-haiku-latest", "max_tokens": 32, "system": SYSTEM, "temperature": 0.0,
            "messages": [{"role": "user", "content": question}]}


def message_batch(batch_id: str, status: str, counts: dict) -> dict:
    ended = status == "ended"
    return {"id": batch_id, "type": "message_batch", "processing_status": status,
            "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0, **counts},
            "ended_at": "2024-10-28T21:10:00.000000Z" if ended else None, "created_at": "2024-10-28T21:00:00.000000Z",
            "expires_at": "2024-10-29T21:00:00.000000Z", "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"{ANTHROPIC}/{batch_id}/results" if ended else None}


def anthropic_create(batch_id: str, requests: list[dict]) -> dict:
    return interaction("POST", ANTHROPIC, message_batch(batch_id, "in_progress", {"processing": len(requests)}),
                       body=json.dumps({"requests": requests}), headers=JSON)


def anthropic_poll(batch_id: str, status: str, **counts) -> dict:
    return interaction("GET", f"{ANTHROPIC}/{batch_id}", message_batch(batch_id, status, counts))


def anthropic_results(batch_id: str, lines: list[dict]) -> dict:
    return interaction("GET", f"{ANTHROPIC}/{batch_id}/results", jsonl(lines))


def message(key: str, text: str, stop_reason: str = "end_turn", output_tokens: int = 8) -> dict:
    return {"custom_id": key, "result": {"type": "succeeded", "message": {
        "id": f"msg_{key[:8]}", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": text}], "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": 24, "output_tokens": output_tokens}}}}


def anthropic_cassettes(k: list[str]) -> dict[str, list[dict]]:
    requests = [{"custom_id": k[i], "params": params(QUESTIONS[i])} for i in range(3)]
    errored = {"custom_id": k[1], "result": {"type": "errored", "error": {"type": "error", "error": {
        "type": "invalid_request_error", "message": "messages.0.content: the request could not be processed"}}}}
    round_trip = "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"
    return {
        "test_anthropic_batch_round_trip": [
            anthropic_create(round_trip, requests[:2]),
            anthropic_poll(round_trip, "in_progress", processing=1, succeeded=1),
            anthropic_poll(round_trip, "ended", succeeded=2),
            anthropic_results(round_trip, [message(k[0], "Paris is the capital of France."),
                                           message(k[1], "6 times 7 is", stop_reason="max_tokens", output_tokens=7)]),
        ],
        "test_anthropic_errored_and_expired_requests": [
            anthropic_create("msgbatch_01Errd", requests),
            anthropic_poll("msgbatch_01Errd", "ended", succeeded=1, errored=1, expired=1),
            anthropic_results("msgbatch_01Errd", [message(k[0], ANSWERS[0]), errored,
                                                  {"custom_id": k[2], "result": {"type": "expired"}}]),
            anthropic_create("msgbatch_01Again", requests[2:]),
            anthropic_poll("msgbatch_01Again", "ended", succeeded=1),
            anthropic_results("msgbatch_01Again", [message(k[2], ANSWERS[2])]),
        ],
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cassettes = {**openai_cassettes(keys(OPENAI_MODEL)), **anthropic_cassettes(keys(ANTHROPIC_MODEL))}
    for name, interactions in cassettes.items():
        text = yaml.safe_dump({"interactions": interactions, "version": 1}, sort_keys=False, allow_unicode=True, width=120)
        (OUT / f"{name}.yaml").write_text(text)
        print(f"wrote {OUT / name}.yaml ({len(interactions)} interactions)")


if __name__ == "__main__":
    main()
