"""The stub server plus OpenAI's Batch API: ``POST /v1/files`` (multipart, purpose=batch),
``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/files/{id}/content``.

A batch is ``validating`` when created and moves one status per poll (``in_progress``, then
``completed``); when it completes, each line is answered by the stub's `responder`, exactly
as ``POST /v1/chat/completions`` answers the same body. Counters say what was used.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import ThreadingHTTPServer

from stub_server import StubServer, _Handler


def chat_reply(stub: StubServer, body: dict) -> dict:
    """What the stub's chat endpoint answers for `body` (same content and usage)."""
    content = stub.responder(body)
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    usage = {"prompt_tokens": max(1, prompt_chars // 4), "completion_tokens": max(1, len(content) // 4)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {"id": "chatcmpl-batch", "object": "chat.completion", "created": 1, "model": body.get("model", "stub-model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": usage}


class OpenAIBatchStub(StubServer):
    """StubServer with OpenAI's Files and Batches endpoints."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_lines = 0
        self.created_batches = 0
        self._ids = 0
        self._batch_lock = threading.Lock()

    def start(self) -> "OpenAIBatchStub":
        stub = self

        class Handler(_BatchHandler):
            server_stub = stub

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="openai-batch-stub").start()
        return self

    def new_id(self, prefix: str) -> str:
        with self._batch_lock:
            self._ids += 1
            return f"{prefix}-{self._ids}"

    def advance(self, batch: dict) -> dict:
        """One poll: validating -> in_progress -> completed (answering every line)."""
        with self._batch_lock:
            if batch["status"] == "validating":
                batch["status"] = "in_progress"
            elif batch["status"] == "in_progress":
                lines = [json.loads(line) for line in self.files[batch["input_file_id"]].decode().splitlines() if line]
                out = [{"id": f"batch_req_{i}", "custom_id": line["custom_id"], "error": None,
                        "response": {"status_code": 200, "request_id": f"req_{i}", "body": chat_reply(self, line["body"])}}
                       for i, line in enumerate(lines)]
                file_id = f"file-out-{batch['id']}"
                self.files[file_id] = "".join(json.dumps(o) + "\n" for o in out).encode()
                self.batch_lines += len(lines)
                batch.update(status="completed", output_file_id=file_id, completed_at=int(time.time()),
                             request_counts={"total": len(lines), "completed": len(lines), "failed": 0})
            return dict(batch)


class _BatchHandler(_Handler):
    server_stub: OpenAIBatchStub

    def do_POST(self):
        stub = self.server_stub
        if self.path.endswith("/files"):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            boundary = re.search(r"boundary=([^;]+)", self.headers.get("Content-Type", "")).group(1).encode()
            part = next(p for p in raw.split(b"--" + boundary) if b'name="file"' in p)
            content = part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
            file_id = stub.new_id("file")
            stub.files[file_id] = content
            return self._json({"id": file_id, "object": "file", "bytes": len(content), "purpose": "batch"})
        if self.path.endswith("/batches"):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            batch_id = stub.new_id("batch")
            stub.created_batches += 1
            stub.batches[batch_id] = {"id": batch_id, "object": "batch", "endpoint": body["endpoint"],
                                      "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                                      "status": "validating", "request_counts": {"total": 0, "completed": 0, "failed": 0}}
            return self._json(stub.batches[batch_id])
        return super().do_POST()

    def do_GET(self):
        stub = self.server_stub
        found = re.search(r"/batches/([^/]+)$", self.path)
        if found:
            return self._json(stub.advance(stub.batches[found.group(1)]))
        found = re.search(r"/files/([^/]+)/content$", self.path)
        if found:
            return self._send(200, stub.files[found.group(1)], content_type="application/jsonl")
        return super().do_GET()

    def _json(self, data: dict) -> None:
        self._send(200, json.dumps(data).encode())
