"""`codeclm push`: a run's kept pairs as a Hugging Face dataset, with a dataset card built from its manifest.

The repo gets `data/train.jsonl` (the kept records, config `default`), `dropped/train.jsonl` when asked
(config `dropped`: every item not kept, with its stage and reason), `README.md` (the card, codeclm.publish.card)
and `codeclm/manifest.json` (the manifest without this machine's paths). The token is read from the
environment (HF_TOKEN) and handed to huggingface_hub only: it is never printed or written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from codeclm.publish.card import dataset_card, public_manifest, read_manifest
from codeclm.errors import CodecLMError
from codeclm.output.jsonl import numbered_rows
from codeclm.output.sink import dropped_path

TOKEN_ENV = "HF_TOKEN"


class PushError(CodecLMError):
    """A push that cannot go ahead: no token, no Hub, a repo that is not yours, data without its manifest."""


def _jsonl(path: Path) -> bytes:
    rows = [row for _, row in numbered_rows(path, fix="fix or delete that line, or rerun the program")]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def push(data: str | Path, repo_id: str, *, private: bool = True, dropped: bool = False,
         endpoint: str | None = None) -> str:
    """Upload `data` (a `codeclm run` output) to the dataset repo `repo_id`; return the repo's URL.

    `private`: a new repo is private unless False; an existing repo must already have the visibility asked for
    (codeclm never changes it). `endpoint`: the Hub (default: $HF_ENDPOINT, else huggingface.co)."""
    data = Path(data)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise PushError(f"{TOKEN_ENV} is not set: create a write token at https://huggingface.co/settings/tokens "
                        f"and export {TOKEN_ENV}=<token> (codeclm reads it from the environment only)")
    if "/" not in repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PushError(f"{repo_id}: expected a dataset repo id NAMESPACE/NAME, e.g. my-user/codeclm-data")
    if not data.is_file():
        raise PushError(f"{data}: not found; give the JSONL `codeclm run` wrote (e.g. data/codeclm.jsonl)")
    manifest = read_manifest(data)
    try:
        from huggingface_hub import CommitOperationAdd, HfApi
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
    except ImportError:
        raise PushError("codeclm push needs huggingface_hub: pip install 'codeclm[hf]'") from None

    files = {"default": "data/train.jsonl"}
    uploads = {"data/train.jsonl": _jsonl(data)}
    if dropped:
        files["dropped"] = "dropped/train.jsonl"
        uploads["dropped/train.jsonl"] = _jsonl(dropped_path(data)) if dropped_path(data).exists() else b""
    uploads["README.md"] = dataset_card(manifest, title=repo_id, files=files).encode()
    uploads["codeclm/manifest.json"] = (json.dumps(public_manifest(manifest), indent=2) + "\n").encode()

    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    where = api.endpoint
    try:
        try:
            info = api.repo_info(repo_id, repo_type="dataset")
        except RepositoryNotFoundError:
            info = None
        if info is not None and bool(info.private) != private:
            shown, asked = ("private", "--private") if info.private else ("public", "--public")
            raise PushError(f"{repo_id}: exists and is {shown}; pass {asked} to push to it, or choose another repo "
                            f"(codeclm never changes a repo's visibility)")
        if info is None:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.create_commit(
            repo_id, repo_type="dataset",
            operations=[CommitOperationAdd(path_in_repo=p, path_or_fileobj=content) for p, content in uploads.items()],
            commit_message=f"codeclm push: {manifest.get('kept', 0)} kept pairs from {data.name}",
        )
    except PushError:
        raise
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            raise PushError(f"{where}: {TOKEN_ENV} was refused (401); create a write token at "
                            "https://huggingface.co/settings/tokens and export it again") from None
        if status == 403:
            raise PushError(f"{repo_id}: not yours: {TOKEN_ENV} cannot write to it (403); push to a repo under your "
                            "user or an organization you can write to, e.g. <your-user>/codeclm-data") from None
        raise PushError(f"{repo_id}: the Hub at {where} answered {status}: {_first_line(exc)}") from None
    except OSError as exc:  # httpx / requests connection errors are OSErrors underneath
        raise PushError(f"{where}: cannot reach the Hugging Face Hub ({_first_line(exc)}); check the network, "
                        "or HF_ENDPOINT") from None
    except Exception as exc:
        if type(exc).__name__ in {"ConnectError", "ConnectTimeout", "ReadTimeout", "ConnectionError"}:
            raise PushError(f"{where}: cannot reach the Hugging Face Hub ({_first_line(exc)}); check the network, "
                            "or HF_ENDPOINT") from None
        raise
    return getattr(commit, "repo_url", None) or f"{where}/datasets/{repo_id}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
