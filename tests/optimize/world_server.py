"""The scripted world (optimize_world) as an OpenAI-compatible server on 127.0.0.1, for recording cassettes.

POST /v1/chat/completions answers every codeclm step (and any optimizer prompt) as the world's
strong model; POST /v1/completions scores a text as the world's target (echo logprobs, the
shape llama-cpp-python returns). Run it alone with `python tests/optimize/world_server.py`.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakes import Cut, chat_answer, is_plain, to_plain
from optimize_world import Proposals, answer, loss_of, wire_step


PROPOSALS = Proposals()  # the server's instruction proposals so far (restart the server to start again)


def chat_reply(body: dict) -> dict:
    messages = body["messages"]
    step = wire_step(messages)
    finish = "stop"
    if step is None:
        content = PROPOSALS.reply(messages[0]["content"])
    else:
        result = answer(step, messages)
        if isinstance(result, Cut):
            result, finish = result.answer, "length"
        content = to_plain(result) if is_plain(messages) else chat_answer(result)
    return {"id": "chatcmpl-world", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


def score_reply(body: dict) -> dict:
    text = body["prompt"]
    spans = [(m.group(), m.start()) for m in re.finditer(r"\s*\S+", text)]  # tokens carry their spaces: they reassemble the text
    tokens = [t for t, _ in spans] + [" next"]
    offsets = [o for _, o in spans] + [len(text)]
    logprobs = [None] + [loss_of(text, t.strip()) for t, _ in spans[1:]] + [-1.0]
    return {"id": "cmpl-world", "object": "text_completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "text": " next", "finish_reason": "length",
                         "logprobs": {"tokens": tokens, "token_logprobs": logprobs, "text_offset": offsets}}],
            "usage": {"prompt_tokens": len(spans), "completion_tokens": 1, "total_tokens": len(spans) + 1}}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        path = self.path.rstrip("/")
        reply = chat_reply(body) if path.endswith("/chat/completions") else score_reply(body)
        self._send(200, reply)

    def do_GET(self):  # noqa: N802
        self._send(200, {"object": "list", "data": [{"id": "world-strong"}, {"id": "world-target"}]})

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class WorldServer:
    """`with WorldServer() as url:` serves the world at url (…/v1) until the block ends."""

    def __enter__(self) -> str:
        global PROPOSALS
        PROPOSALS = Proposals()  # each server starts with a worse proposal
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True, name="world-server").start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":
    import time

    with WorldServer() as url:
        print(url, flush=True)
        while True:
            time.sleep(3600)
