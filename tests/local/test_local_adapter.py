"""LocalJSONAdapter asks for JSON mode with the output schema (never json_schema)."""

import dspy
import pydantic

from codeclm.local.adapter import LocalJSONAdapter


class Info(pydantic.BaseModel):
    use_case: str
    skills: list[str]


class Encode(dspy.Signature):
    """Describe an instruction."""

    instruction: str = dspy.InputField()
    info: Info = dspy.OutputField()


class Loose(dspy.Signature):
    instruction: str = dspy.InputField()
    extra: dict[str, int] = dspy.OutputField()


def prepared(signature) -> dict:
    kwargs = {}
    LocalJSONAdapter()._prepare_response_format(dspy.LM("openai/local", api_key="x"), kwargs, signature)
    return kwargs["response_format"]


def test_sends_json_object_with_schema():
    fmt = prepared(Encode)
    assert fmt["type"] == "json_object"
    schema = fmt["schema"]
    assert schema["required"] == ["info"]
    assert schema["$defs"]["Info"]["required"] == ["use_case", "skills"]


def test_open_ended_mapping_falls_back_to_plain_json_mode():
    assert prepared(Loose) == {"type": "json_object"}
