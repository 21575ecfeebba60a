"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for `codeclm push` tests (HF_ENDPOINT points here).

It answers what huggingface_hub's HfApi sends for repo_info, create_repo, validate-yaml, preupload and
commit (every file "regular": its bytes come base64 in the commit), keeps the committed files per
repo, and checks the bearer token. Repos under any namespace but `me` are not the token owner's.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER = "me"


class HubStub:
    def __init__(self, token: str):
        self.token = token
        self.repos: dict[str, dict] = {}  # repo id -> {"private": bool, "files": {path: bytes}}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: dict, headers: dict | None = None):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _authorized(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {stub.token}"

            def do_GET(self):
                stub.requests.append(("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
                match = re.match(r"^/api/datasets/([^/]+/[^/?]+)(/revision/[^?]+)?", self.path)
                repo = stub.repos.get(match.group(1)) if match else None
                if repo is None or (repo["private"] and not match.group(1).startswith(f"{USER}/")):
                    return self._reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                return self._reply(200, {"id": match.group(1), "private": repo["private"], "sha": "0" * 40,
                                         "siblings": [{"rfilename": p} for p in repo["files"]]})

            def do_POST(self):
                stub.requests.append(("POST", self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = self._body()
                if not self._authorized():
                    return self._reply(401, {"error": "Invalid credentials in Authorization header"})
                if self.path == "/api/repos/create":
                    spec = json.loads(body)
                    repo_id = f"{spec.get('organization') or USER}/{spec['name']}"
                    if not repo_id.startswith(f"{USER}/"):
                        return self._reply(403, {"error": "You don't have the rights to create a dataset under this namespace"})
                    private = bool(spec.get("private")) or spec.get("visibility") == "private"
                    stub.repos.setdefault(repo_id, {"private": private, "files": {}})
                    return self._reply(200, {"url": f"{stub.url}/datasets/{repo_id}", "name": repo_id})
                if self.path == "/api/validate-yaml":
                    return self._reply(200, {"errors": [], "warnings": []})
                match = re.match(r"^/api/datasets/([^/]+/[^/]+)/(preupload|commit)/main", self.path)
                if not match:
                    return self._reply(404, {"error": f"no route {self.path}"})
                repo_id, action = match.groups()
                if not repo_id.startswith(f"{USER}/"):
                    return self._reply(403, {"error": "You don't have write access to this repo"})
                if repo_id not in stub.repos:
                    return self._reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                       for f in files]})
                for line in body.splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        stub.repos[repo_id]["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                return self._reply(200, {"commitUrl": f"{stub.url}/datasets/{repo_id}/commit/{'1' * 40}",
                                         "commitOid": "1" * 40, "pullRequestUrl": None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HubStub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
