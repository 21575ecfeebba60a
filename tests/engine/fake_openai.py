"""The stub server plus what the direct path needs tested: /completions with echo logprobs,
streamed chat (recording whether the client disconnected), and servers' error dialects.

Extra scripted faults (consumed one per request, as in ``StubServer``):
``"ctx-openai"`` (400, code context_length_exceeded), ``"ctx-llama"`` (500 with
llama-cpp-python's raw text), ``"ctx-vllm"`` (400, vLLM's text), ``"no-choices"`` (200
JSON without choices), ``"no-logprobs"`` (500 naming logprobs, as llama-cpp-python
without logits_all), ``"echo-ignored"`` (200 /completions reply without logprobs),
``"not-found"`` (404), ``"reject-stream-options"`` (400 naming stream_options),
``"stream-error"`` (a streamed error chunk with a context-length message), ``"stream-error-field"``
(llama.cpp's ``error: {...}`` SSE line, code 400, then the stream ends), ``"stream-refusal"`` (``delta.refusal`` chunks), ``"misaligned"`` (a 200
/completions reply whose first token is empty text: its tokens do not reassemble the prompt).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer
from io import BytesIO

from stub_server import StubServer, _Handler

ANSWER_TOKENS = ["The", " answer", " is", " 42", "."]
_CTX = {
    "ctx-openai": (400, {"message": "This model's maximum context length is 8192 tokens. However, your messages "
                                    "resulted in 9000 tokens. Please reduce the length of the messages.",
                         "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}),
    "ctx-llama": (500, {"message": "Requested tokens (3000) exceed context window of 2048", "type": "server_error",
                        "code": None}),
    "ctx-vllm": (400, {"message": "This model's maximum context length is 4096 tokens. However, you requested "
                                  "5000 tokens (4900 in the messages, 100 in the completion). Please reduce the "
                                  "length of the messages or completion.", "type": "BadRequestError", "code": 400}),
}


class FakeOpenAI(StubServer):
    """StubServer plus /completions (echo logprobs) and streamed chat."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ignore_stream = False  # answer streamed requests in one JSON piece, as some servers do
        self.rich = False  # serve every chat call from stream_tokens, with finish_reason and logprobs
        self.finish_reason = "stop"
        self.chunk_delay = 0.0
        self.stream_tokens = list(ANSWER_TOKENS)
        self.send_usage_chunk = True
        self.timings: dict | None = None
        self.cached_tokens: int | None = None
        self.paths: list[str] = []
        self.disconnected = threading.Event()
        self.chunks_sent = 0
        self.stream_finished = False

    def start(self) -> "FakeOpenAI":
        stub = self

        class Handler(_FakeHandler):
            server_stub = stub

        self._httpd = _QuietServer(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="fake-openai").start()
        return self


class _QuietServer(ThreadingHTTPServer):
    """Clients that time out close their connection mid-reply on purpose: no traceback for that."""

    request_queue_size = 256

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _FakeHandler(_Handler):
    server_stub: FakeOpenAI

    def do_POST(self):
        stub = self.server_stub
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.rstrip("/")
        body = json.loads(raw or b"{}") if path.endswith("completions") else {}
        fault = stub.script[0] if stub.script else None
        with stub._lock:
            stub.paths.append(path)
        if path.endswith("/chat/completions") and (fault in _CTX or fault in ("no-choices", "reject-stream-options",
                                                                             "stream-error") or body.get("stream")):
            return self._own(body, stub.script.popleft() if fault else None, self._chat_extra)
        if path.endswith("/completions") and not path.endswith("/chat/completions"):
            return self._own(body, stub.script.popleft() if fault else None, self._completion)
        if path.endswith("/chat/completions") and (stub.rich or stub.timings or stub.cached_tokens is not None):
            return self._own(body, stub.script.popleft() if fault else None, self._chat_extra)
        saved, self.rfile = self.rfile, BytesIO(raw)  # let the stub's own handler read the body again
        try:
            super().do_POST()
        finally:
            self.rfile = saved

    def _own(self, body, fault, serve):
        stub = self.server_stub
        start = time.perf_counter()
        with stub._lock:
            stub.requests += 1
            stub.bodies.append(body)
            stub.auth_headers.append(self.headers.get("Authorization"))
            if fault:
                stub.faults_served.append(fault)
        try:
            serve(body, fault)
        finally:
            with stub._lock:
                stub.busy_seconds += time.perf_counter() - start

    def _json_error(self, status: int, error: dict) -> None:
        self._send(status, json.dumps({"error": error}).encode())

    # -- chat: error dialects, streaming, usage details --------------------------------------
    def _chat_extra(self, body, fault):
        stub = self.server_stub
        if fault in _CTX:
            return self._json_error(*_CTX[fault])
        if fault == "no-choices":
            return self._send(200, json.dumps({"id": "x", "object": "chat.completion", "usage": {}}).encode())
        if fault == "reject-stream-options":
            return self._json_error(400, {"message": "Unrecognized request argument supplied: stream_options",
                                          "type": "invalid_request_error", "code": None})
        if body.get("stream") and not stub.ignore_stream:
            return self._stream(body, fault)
        reply = _chat_reply(body, "".join(stub.stream_tokens), len(stub.stream_tokens))
        reply["choices"][0]["finish_reason"] = stub.finish_reason
        if body.get("logprobs"):
            reply["choices"][0]["logprobs"] = {"content": [_token_logprob(t) for t in stub.stream_tokens]}
        if stub.timings:
            reply["timings"] = stub.timings
        if stub.cached_tokens is not None:
            reply["usage"]["prompt_tokens_details"] = {"cached_tokens": stub.cached_tokens}
        self._send(200, json.dumps(reply).encode())

    def _stream(self, body, fault):
        stub = self.server_stub
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": body.get("model")}
        events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
        if fault == "stream-error":
            events.append({"error": dict(_CTX["ctx-llama"][1], code=500)})
        if fault == "stream-error-field":  # llama.cpp's server: a failure after the headers as an SSE `error:` field
            events.append(("error", {"code": 400, "message": "failed to parse grammar (stub)",
                                     "type": "invalid_request_error"}))
        if fault == "stream-refusal":
            events.extend({**head, "choices": [{"index": 0, "delta": {"refusal": part}, "finish_reason": None}]}
                          for part in ("I can't ", "help with that."))
        for token in (stub.stream_tokens if fault not in ("stream-refusal", "stream-error-field") else []):
            choice = {"index": 0, "delta": {"content": token}, "finish_reason": None}
            if body.get("logprobs"):
                choice["logprobs"] = {"content": [_token_logprob(token)]}
            events.append({**head, "choices": [choice]})
        events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": stub.finish_reason}]})
        if stub.send_usage_chunk and (body.get("stream_options") or {}).get("include_usage"):
            events.append({**head, "choices": [], "usage": {"prompt_tokens": 11,
                                                            "completion_tokens": len(stub.stream_tokens),
                                                            "total_tokens": 11 + len(stub.stream_tokens)}})
        if fault == "stream-error-field":
            events = events[:2]  # the server ends the stream after its error
        try:
            self._write_chunk(b": ping\n\n")
            for event in events:
                if stub.chunk_delay:
                    time.sleep(stub.chunk_delay)
                field, event = event if isinstance(event, tuple) else ("data", event)
                self._write_chunk(f"{field}: {json.dumps(event)}\n\n".encode())
                with stub._lock:
                    stub.chunks_sent += 1
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
            stub.stream_finished = True
        except OSError:  # the client closed the connection: stop working, as llama-cpp-python does
            stub.disconnected.set()
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- /completions with echo and logprobs (llama-cpp-python's shape) ------------------------
    def _completion(self, body, fault):
        if fault == "no-logprobs":
            return self._json_error(500, {"message": "logprobs is not supported for models created with "
                                                     "logits_all=False", "type": "internal_server_error"})
        if fault == "not-found":
            return self._json_error(404, {"message": "This is a chat model and not supported in the "
                                                     "v1/completions endpoint.", "type": "invalid_request_error"})
        if fault in _CTX:
            return self._json_error(*_CTX[fault])
        if fault in ("500", "garbage"):
            return self._send(500, b"{}") if fault == "500" else self._send(200, b"<html>oops")
        prompt = body.get("prompt", "")
        tokens, offsets = _split(prompt)
        tokens, offsets = tokens + [" next"], offsets + [len(prompt)]  # the one generated token
        logprobs = {"tokens": tokens, "text_offset": offsets,
                    "token_logprobs": [None] + [-round(0.5 + i / 10, 3) for i in range(1, len(tokens))],
                    "top_logprobs": [None] + [{t: -0.5} for t in tokens[1:]]}
        if fault == "echo-ignored":
            logprobs = None
        if fault == "misaligned":  # special tokens decoded as empty text, as llama-cpp-python's own server does
            tokens[0] = ""
        reply = {"id": "cmpl-fake", "object": "text_completion", "created": 1, "model": body.get("model"),
                 "choices": [{"text": prompt + " next", "index": 0, "logprobs": logprobs, "finish_reason": "length"}],
                 "usage": {"prompt_tokens": len(tokens) - 1, "completion_tokens": 1, "total_tokens": len(tokens)}}
        self._send(200, json.dumps(reply).encode())


def _token_logprob(token: str) -> dict:
    return {"token": token, "logprob": -0.5, "bytes": None, "top_logprobs": [{"token": token, "logprob": -0.5}]}


def _split(text: str) -> tuple[list[str], list[int]]:
    """Whitespace-led word tokens with their character offsets."""
    tokens, offsets, start = [], [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or (text[i] == " " and text[i - 1] != " "):
            tokens.append(text[start:i])
            offsets.append(start)
            start = i
    return tokens, offsets


def _chat_reply(body: dict, content: str, completion_tokens: int) -> dict:
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": max(1, prompt_chars // 4), "completion_tokens": completion_tokens,
                      "total_tokens": max(1, prompt_chars // 4) + completion_tokens}}
