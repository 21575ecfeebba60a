"""Cache keys: what changes them and what must not.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

from __future__ import annotations

import pydantic

from codeclm.engine.keys import cache_key, normalize_api_base, redact_url, scrub

BASE = dict(api_base="http://127.0.0.1:8000/v1", model="openai/m",
            messages=[{"role": "user", "content": "hi"}], params={"temperature": 0.0, "max_tokens": 64})


def key(**changes):
    args = {**BASE, **changes}
    return cache_key(**args)


def test_key_is_stable_and_hex():
    assert key() == key() and len(key()) == 64


def test_key_changes_with_every_output_affecting_input():
    base = key()
    variants = [
        key(api_base="http://127.0.0.1:8001/v1"),
        key(model="openai/other"),
        key(messages=[{"role": "user", "content": "hi!"}]),
        key(params={**BASE["params"], "temperature": 0.7}),
        key(params={**BASE["params"], "rollout_id": 1}),
        key(params={**BASE["params"], "max_tokens": 65}),
        key(params={**BASE["params"], "response_format": {"type": "json_object"}}),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert key(params={**BASE["params"], "rollout_id": 1}) != key(params={**BASE["params"], "rollout_id": 2})


def test_key_ignores_api_key_and_connection_settings():
    connection = {"api_key": "sk-one", "timeout": 5, "num_retries": 3, "headers": {"Authorization": "x"}}
    assert key(params={**BASE["params"], **connection}) == key()
    assert key(params={**BASE["params"], "api_key": "sk-two"}) == key()


def test_key_ignores_none_values_and_trivial_api_base_spelling():
    assert key(params={**BASE["params"], "top_p": None}) == key()
    assert key(api_base="HTTP://127.0.0.1:8000/v1/") == key()
    assert normalize_api_base(None) == ""


def test_key_accepts_pydantic_response_format():
    class Answer(pydantic.BaseModel):
        text: str

    class Other(pydantic.BaseModel):
        number: int

    assert key(params={"response_format": Answer}) != key(params={"response_format": Other})


def test_redact_url_and_scrub():
    assert redact_url("https://user:pw@Example.com:8443/v1/?key=abc") == "https://example.com:8443/v1"
    assert redact_url(None) == "<provider default>"
    assert scrub("token sk-abcdef here sk-abcdef", ["sk-abcdef", None, ""]) == "token *** here ***"
    assert scrub("none of it", ["none"]) == "none of it"
