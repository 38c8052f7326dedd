"""Structured output: schemas passed as constrained decoding where a backend can, replies parsed
and validated everywhere, "unparsable" as its own outcome."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from promptkit.errors import UserError
from promptkit.llm import GenParams, get_model
from promptkit.llm.base import Generation
from promptkit.llm.cache import request_key
from promptkit.llm.structured import check_schema, json_values, parse_reply, strict_compatible
from promptkit.testing.fakes import FakeChatModel, FunctionChatModel

VERDICT = {"type": "object",
           "properties": {"reason": {"type": "string", "maxLength": 80},
                          "verdict": {"type": "string",
                                      "enum": ["supported", "contradicted", "not_found"]}},
           "required": ["reason", "verdict"], "additionalProperties": False}
MESSAGES = [{"role": "user", "content": "Is the claim supported? Reply with JSON."}]


class Verdict(BaseModel):
    reason: str
    verdict: str


def gen(text: str, finish: str = "stop") -> Generation:
    return Generation(text=text, model="fake:x", finish_reason=finish)


def test_schema_joins_the_request_only_when_set_so_old_cache_keys_stay():
    plain = GenParams()
    assert "json_schema" not in plain.as_dict()
    assert request_key("m", plain, MESSAGES) == request_key("m", GenParams(json_schema=None),
                                                            MESSAGES)
    with_schema = GenParams(json_schema=VERDICT)
    assert with_schema.as_dict()["json_schema"] == VERDICT
    assert request_key("m", with_schema, MESSAGES) != request_key("m", plain, MESSAGES)


def test_constrained_reply_parses_and_validates():
    got = parse_reply(gen('{"reason": "the passage says 2018", "verdict": "supported"}'),
                      VERDICT, constrained=True)
    assert got.ok and got.value["verdict"] == "supported" and got.constrained


@pytest.mark.parametrize("text, finish, reason", [
    ('{"reason": "x", "verdict": "maybe"}', "stop", "at verdict: 'maybe' is not one of"),
    ('{"reason": "x"}', "stop", "'verdict' is a required property"),
    ('{"reason": "cut sh', "length", "cut at max_tokens"),
    ('Sure! {"reason": "x", "verdict": "supported"}', "stop", "not JSON"),
])
def test_constrained_replies_that_do_not_fit_are_unparsable_with_a_reason(text, finish, reason):
    got = parse_reply(gen(text, finish), VERDICT, constrained=True)
    assert got.outcome == "unparsable" and got.value is None
    assert reason in got.reason
    assert got.describe()["raw"] == text


def test_free_text_reply_finds_the_json_that_validates():
    text = ('Here is an example: {"verdict": "x"}.\n```json\n'
            '{"reason": "it matches", "verdict": "supported"}\n```')
    got = parse_reply(gen(text), VERDICT, constrained=False)
    assert got.ok and got.value == {"reason": "it matches", "verdict": "supported"}
    assert not got.constrained
    bad = parse_reply(gen("The claim is supported."), VERDICT, constrained=False)
    assert bad.outcome == "unparsable" and "no JSON" in bad.reason
    assert json_values('a [1, 2] b {"x": 1}') == [[1, 2], {"x": 1}]


def test_pydantic_model_as_schema_returns_an_instance():
    model = FakeChatModel(['{"reason": "r", "verdict": "supported"}'], can_constrain=True)
    got = model.generate_structured(MESSAGES, Verdict)
    assert isinstance(got.value, Verdict) and got.value.verdict == "supported"
    assert model.last_call.params.json_schema["title"] == "Verdict"


def test_the_capability_decides_whether_the_schema_is_sent():
    seen = []

    def reply(messages, params):
        seen.append(params.json_schema)
        return '{"reason": "r", "verdict": "not_found"}'

    able = FunctionChatModel(reply, can_constrain=True)
    unable = FunctionChatModel(reply)
    assert able.generate_structured(MESSAGES, VERDICT).constrained
    assert not unable.generate_structured(MESSAGES, VERDICT).constrained
    # constrain=False asks plainly even where the backend could constrain
    assert not able.generate_structured(MESSAGES, VERDICT, constrain=False).constrained
    # generate() itself drops a schema the backend cannot take
    unable.generate(MESSAGES, GenParams(json_schema=VERDICT))
    assert seen == [VERDICT, None, None, None]


def test_structured_replies_are_cached_apart_from_plain_ones(tmp_path):
    model = FakeChatModel(['{"reason": "a", "verdict": "supported"}', "plain"],
                          can_constrain=True)
    from promptkit.llm.cache import ResponseCache

    model.cache = ResponseCache(tmp_path / "c.sqlite", "read-write")
    first = model.generate_structured(MESSAGES, VERDICT)
    again = model.generate_structured(MESSAGES, VERDICT)
    assert again.generation.cached and again.value == first.value
    assert model.generate(MESSAGES).text == "plain"   # a different request, not the cached one
    assert len(model.calls) == 2


def test_schema_checks_and_openai_strictness():
    check_schema(VERDICT)
    with pytest.raises(UserError, match="not valid JSON Schema"):
        check_schema({"type": "objekt"})
    with pytest.raises(UserError, match="JSON Schema object"):
        check_schema(["type"])
    assert strict_compatible(VERDICT)
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert not strict_compatible(loose)
    nested = {"type": "object", "properties": {"items": {"type": "array", "items": loose}},
              "required": ["items"], "additionalProperties": False}
    assert not strict_compatible(nested)


def test_llamacpp_grammar_refuses_a_schema_it_cannot_convert():
    pytest.importorskip("llama_cpp", reason="the llama.cpp backend needs the llamacpp extra")
    from promptkit.llm.llamacpp import schema_grammar

    assert schema_grammar(VERDICT) is schema_grammar(dict(VERDICT))   # built once per schema
    with pytest.raises(UserError, match="cannot turn this JSON Schema into a grammar"):
        schema_grammar({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}})


# ---------------------------------------------------------------- wire formats

def test_openai_sends_a_json_schema_response_format(fault_server):
    server = fault_server(("ok", '{"reason": "r", "verdict": "supported"}'))
    model = get_model(f"openai:m@{server.url}", cache_mode="off")
    got = model.generate_structured(MESSAGES, VERDICT)
    assert got.ok and got.constrained
    fmt = server.bodies[-1]["response_format"]
    assert fmt == {"type": "json_schema",
                   "json_schema": {"name": "reply", "schema": VERDICT, "strict": True}}


def test_openai_compatible_server_without_json_schema_gets_json_object(fault_server):
    # llama-cpp-python's server answers 422 to `json_schema`; it takes json_object + schema.
    server = fault_server(422, ("ok", '{"reason": "r", "verdict": "not_found"}'))
    model = get_model(f"openai:m@{server.url}", cache_mode="off")
    got = model.generate_structured(MESSAGES, VERDICT)
    assert got.ok and got.value["verdict"] == "not_found"
    assert server.bodies[-1]["response_format"] == {"type": "json_object", "schema": VERDICT}
    model.generate_structured(MESSAGES, VERDICT)   # remembered: asked the second way at once
    assert server.hits == 3


def test_plain_requests_carry_no_response_format(fault_server):
    server = fault_server(("ok", "hello"))
    get_model(f"openai:m@{server.url}", cache_mode="off").generate(MESSAGES)
    assert "response_format" not in server.bodies[-1]


def test_ollama_sends_the_schema_as_format(fault_server, monkeypatch):
    pytest.importorskip("ollama", reason="the Ollama backend needs the ollama extra")
    server = fault_server(("ollama", '{"reason": "r", "verdict": "contradicted"}'))
    monkeypatch.setenv("OLLAMA_HOST", server.url.removesuffix("/v1"))
    model = get_model("ollama:m", cache_mode="off")
    got = model.generate_structured(MESSAGES, VERDICT)
    assert got.ok and got.value["verdict"] == "contradicted"
    assert server.bodies[-1]["format"] == VERDICT


# ---------------------------------------------------------------- real constrained decoding

@pytest.mark.slow
def test_llamacpp_constrained_decoding_always_fits_the_schema(smollm2):
    """SmolLM2-135M rarely writes JSON when asked; under the grammar every reply fits."""
    claims = ["BERT was released in 2019.", "BERT has 110M parameters.", "GPT came first."]
    schema = {"type": "object", "properties": {"verdicts": {
        "type": "array", "minItems": 3, "maxItems": 3, "items": VERDICT}},
        "required": ["verdicts"], "additionalProperties": False}
    params = GenParams(max_tokens=200)
    free_ok = 0
    for claim in claims:
        messages = [{"role": "user", "content": f"Passage: BERT (2018) has 110M parameters.\n"
                                                f"Claims: 1. {claim} 2. {claim} 3. {claim}\n"
                                                "Verdict for each, as JSON."}]
        held = smollm2.generate_structured(messages, schema, params)
        assert held.ok and held.constrained and len(held.value["verdicts"]) == 3
        free_ok += smollm2.generate_structured(messages, schema, params, constrain=False).ok
    assert free_ok < len(claims)   # the comparison the constraint is for


@pytest.mark.slow
def test_constrained_json_through_a_real_openai_compatible_server(llama_server):
    model = get_model(f"openai:local@{llama_server}", cache_mode="off")
    got = model.generate_structured(MESSAGES, VERDICT, GenParams(max_tokens=120))
    assert got.ok, got.reason
    assert model.schema_format == "json_object"   # learnt from the server's 422
    assert json.loads(got.text)["verdict"] in VERDICT["properties"]["verdict"]["enum"]
