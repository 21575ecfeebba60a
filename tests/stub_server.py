"""A small threaded OpenAI-compatible stub server for tests and benchmarks.

Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 with a
fixed latency and fault injection, either scripted (consumed one per request, in
order) or at set rates (seeded, so runs are repeatable). Faults:

``"429"`` rate limit with ``Retry-After`` (``retry_after`` seconds, or an HTTP date
when ``retry_after_date`` is set) and ``retry-after-ms`` when ``retry_after_ms`` is set,
``"429-quota"`` (OpenAI's ``insufficient_quota``: the credit is used up), ``"500"``, ``"400"``, ``"404"``, ``"401"`` (its
message echoes the bearer token, as some providers do),
``"slow"`` (sleeps ``slow_seconds`` before answering), ``"drop"`` (closes the
connection without a reply), ``"garbage"`` (HTTP 200 with an unparseable body).
``capacity`` (None: unlimited) is a hidden limit on requests in flight: a request past it gets an
immediate 429 (counted in ``rejected``), as a provider's concurrency limit does.

It counts requests, tracks in-flight and busy time, and records the
``Authorization`` headers it saw. ``GET /stats`` and ``POST /reset`` expose the same
counters over HTTP so the server can run in another process
(``python tests/stub_server.py --latency 0.05`` prints its base URL).
"""

from __future__ import annotations

import argparse
import email.utils
import json
import random
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


def _default_responder(body: dict) -> str:
    return "ok"


class StubServer:
    """An OpenAI-compatible server in a background thread; use as a context manager."""

    def __init__(self, latency: float = 0.0, *, responder: Callable[[dict], str] | None = None,
                 seed: int = 0, port: int = 0):
        self.latency = latency
        self.responder = responder or _default_responder
        self.script: deque[str | None] = deque()
        self.rates: dict[str, float] = {}
        self.retry_after: float | None = 0.05
        self.retry_after_date = False
        self.retry_after_ms: float | None = None
        self.slow_seconds = 2.0
        self.capacity: int | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self.reset()

    # -- counters -------------------------------------------------------
    def reset(self) -> None:
        """Zero the counters and forget recorded requests (faults stay)."""
        with self._lock:
            self.requests = 0
            self.in_flight = 0
            self.max_in_flight = 0
            self.busy_seconds = 0.0
            self.auth_headers: list[str | None] = []
            self.bodies: list[dict] = []
            self.arrivals: list[float] = []
            self.faults_served: list[str] = []
            self.rejected = 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "max_in_flight": self.max_in_flight,
                    "busy_seconds": self.busy_seconds, "in_flight": self.in_flight,
                    "faults_served": list(self.faults_served), "rejected": self.rejected}

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.script:
                return self.script.popleft()
            for kind, rate in self.rates.items():
                if self._rng.random() < rate:
                    return kind
        return None

    # -- lifecycle ------------------------------------------------------
    @property
    def url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "StubServer":
        stub = self

        class Handler(_Handler):
            server_stub = stub

        ThreadingHTTPServer.request_queue_size = 256
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="stub-server").start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_stub: StubServer

    def log_message(self, format, *args):  # silence per-request stderr lines
        pass

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, val in (headers or {}).items():
            self.send_header(key, val)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, kind: str, headers=None) -> None:
        body = {"error": {"message": message, "type": kind, "code": None}}
        self._send(status, json.dumps(body).encode(), headers)

    def do_GET(self):
        stub = self.server_stub
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [
                {"id": "stub-model", "object": "model", "owned_by": "stub"}]}).encode())
        elif self.path.rstrip("/").endswith("/stats"):
            self._send(200, json.dumps(stub.stats()).encode())
        else:
            self._error(404, "not found", "not_found")

    def do_POST(self):
        stub = self.server_stub
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/").endswith("/reset"):
            stub.reset()
            return self._send(200, b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._error(404, "not found", "not_found")
        start = time.perf_counter()
        with stub._lock:
            stub.requests += 1
            stub.in_flight += 1
            busy = stub.capacity is not None and stub.in_flight > stub.capacity
            stub.rejected += busy
            stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
            stub.auth_headers.append(self.headers.get("Authorization"))
            stub.arrivals.append(time.monotonic())
        try:
            body = json.loads(raw or b"{}")
            with stub._lock:
                stub.bodies.append(body)
            if busy:
                return self._error(429, "too many requests in flight", "rate_limit_error", {"Retry-After": "0.05"})
            fault = stub._next_fault()
            if fault:
                with stub._lock:
                    stub.faults_served.append(fault)
            self._serve(body, fault)
        finally:
            with stub._lock:
                stub.in_flight -= 1
                stub.busy_seconds += time.perf_counter() - start

    def _serve(self, body: dict, fault: str | None) -> None:
        stub = self.server_stub
        if stub.latency:
            time.sleep(stub.latency)
        if fault == "429":
            headers = {}
            if stub.retry_after is not None:
                headers["Retry-After"] = (email.utils.formatdate(time.time() + stub.retry_after, usegmt=True)
                                          if stub.retry_after_date else f"{stub.retry_after:g}")
            if stub.retry_after_ms is not None:
                headers["retry-after-ms"] = f"{stub.retry_after_ms:g}"
            return self._error(429, "rate limited", "rate_limit_error", headers)
        if fault == "429-quota":  # OpenAI's documented body for a used-up quota
            body = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                              "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
            return self._send(429, json.dumps(body).encode(), {"Retry-After": "1"})
        if fault == "401":  # echoes the credential, as some providers do: callers must scrub it
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            return self._error(401, f"stub fault 401: incorrect API key provided: {token}", "authentication_error")
        if fault in ("400", "404", "500"):
            kinds = {"400": "invalid_request_error", "404": "not_found", "500": "server_error"}
            return self._error(int(fault), f"stub fault {fault}", kinds[fault])
        if fault == "slow":
            time.sleep(stub.slow_seconds)
        if fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "garbage":
            return self._send(200, b"<html>definitely not json{", content_type="application/json")
        content = stub.responder(body)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        usage = {"prompt_tokens": max(1, prompt_chars // 4), "completion_tokens": max(1, len(content) // 4)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        reply = {"id": f"chatcmpl-stub{stub.requests}", "object": "chat.completion", "created": int(time.time()),
                 "model": body.get("model", "stub-model"),
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": content}}],
                 "usage": usage}
        self._send(200, json.dumps(reply).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    stub = StubServer(args.latency, port=args.port).start()
    print(stub.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
