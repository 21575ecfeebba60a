"""A local web server for the page: bound to 127.0.0.1 only, standard library only.

Requests whose Host header is not this machine's loopback address are refused (a web page elsewhere
cannot reach the data through DNS rebinding). An occupied port is not an error: the next free one
is taken, and the caller is told which.
"""

from __future__ import annotations

import errno
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from codeclm.view.load import Run
from codeclm.view.page import page, to_json
from codeclm.view.story import story

HOST = "127.0.0.1"
TRIES = 20  # ports tried after the one asked for, before any free port


def bind(handler: type[BaseHTTPRequestHandler], port: int) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port`, else on the next free port (then any free one)."""
    candidates = [port + k for k in range(TRIES + 1) if 0 < port + k < 65536] if port else []
    for candidate in candidates + [0]:  # 0: the system picks a free port
        try:
            return ThreadingHTTPServer((HOST, candidate), handler)
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
    raise OSError(errno.EADDRINUSE, "no free port on 127.0.0.1")


def make_server(runs: list[Run], data: dict, port: int) -> ThreadingHTTPServer:
    """The server (not started): / is the page, /api/data the table and coverage, /api/story one item."""
    document = page().encode("utf-8")
    body = to_json(data).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        server_version = "codeclm-view"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            if host not in (HOST, "localhost"):
                return self._send(403, b"forbidden: open the page at http://127.0.0.1", "text/plain")
            url = urlsplit(self.path)
            if url.path == "/":
                return self._send(200, document, "text/html; charset=utf-8")
            if url.path == "/api/data":
                return self._send(200, body, "application/json")
            if url.path == "/api/story":
                query = parse_qs(url.query)
                try:
                    run, item = int(query["run"][0]), int(query["item"][0])
                    found = story(runs, run, item)
                except (KeyError, ValueError, IndexError):
                    return self._send(404, b'{"error": "no such item"}', "application/json")
                return self._send(200, to_json(found).encode("utf-8"), "application/json")
            return self._send(404, b"not found", "text/plain")

        def _send(self, status: int, content: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", "default-src 'self' 'unsafe-inline'; connect-src 'self'")
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args) -> None:  # quiet: the terminal shows the URL, not each request
            pass

    return bind(Handler, port)


def serve(runs: list[Run], data: dict, port: int, ready: Callable[[str, int], None]) -> None:
    """Serve until interrupted; `ready(url, port asked for)` is called once the port is bound."""
    server = make_server(runs, data, port)
    try:
        ready(f"http://{HOST}:{server.server_address[1]}/", port)
        server.serve_forever()
    finally:
        server.server_close()

