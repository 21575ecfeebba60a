"""Cache keys and secret hygiene for endpoint calls."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

# Settings that pick the connection, not the output: never part of a cache key.
CLIENT_KEYS = frozenset({
    "api_key", "api_base", "base_url", "api_version", "timeout", "num_retries", "cache", "headers",
    "extra_headers", "organization", "project", "azure_ad_token_provider", "stream_options", "drop_params",
})


def normalize_api_base(api_base: str | None) -> str:
    """Lower-case scheme and host, no trailing slash; '' for the provider default."""
    if not api_base:
        return ""
    parts = urlsplit(api_base.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"),
                       parts.query, "")) or api_base.strip()


def redact_url(api_base: str | None) -> str:
    """An endpoint fit for messages and logs: no userinfo, no query string."""
    if not api_base:
        return "<provider default>"
    parts = urlsplit(api_base.strip())
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", "")) or "<endpoint>"


def _plain(value: Any) -> Any:
    """JSON-able form of a request value (pydantic classes become their schema)."""
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        return {"pydantic": value.__name__, "schema": value.model_json_schema()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(map(str, value))
    return repr(value)


def cache_key(*, api_base: str | None, model: str, messages: Any, params: dict[str, Any]) -> str:
    """sha256 over canonical JSON of endpoint, model, messages and output-affecting params.

    ``params`` may hold anything the call was given; connection settings (the API
    key above all) are dropped, None values are dropped, and ``rollout_id`` stays.
    """
    sampling = {k: v for k, v in params.items() if k not in CLIENT_KEYS and v is not None}
    body = {"api_base": normalize_api_base(api_base), "model": model, "messages": messages, "params": sampling}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret (8+ characters) replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 8:  # placeholders such as "none" or "local" are not secrets
            text = text.replace(secret, "***")
    return text
