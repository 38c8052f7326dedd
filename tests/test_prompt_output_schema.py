"""A prompt version may declare `output_schema:`; the pipeline then returns the parsed object."""

from __future__ import annotations

import pytest
import yaml

from promptkit.errors import ConfigError
from promptkit.pipeline import Pipeline
from promptkit.prompts import load_prompt
from promptkit.prompts.loading import load_spec
from promptkit.testing.fakes import FakeRetriever, FunctionChatModel

SCHEMA = {"type": "object",
          "properties": {"answer": {"type": "string"}, "passage": {"type": "integer"}},
          "required": ["answer", "passage"], "additionalProperties": False}
PROMPT = {"name": "rag-json", "version": 1, "kind": "zero-shot",
          "system": "Answer from the passages. Reply with JSON.",
          "template": "Context:\n{context}\n\nQuestion: {question}",
          "params": {"temperature": 0.0, "max_tokens": 60}, "output_schema": SCHEMA}


def write(tmp_path, data: dict):
    path = tmp_path / data["name"] / f"v{data['version']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_output_schema_is_validated_hashed_and_passed_on(tmp_path):
    spec = load_spec(write(tmp_path, PROMPT))
    assert spec.output_schema == SCHEMA
    assert spec.gen_params().json_schema == SCHEMA
    other = load_spec(write(tmp_path, {**PROMPT, "version": 2, "output_schema": {
        **SCHEMA, "required": ["answer"]}}))
    assert other.hash != spec.hash   # the schema is content
    plain = {k: v for k, v in PROMPT.items() if k != "output_schema"}
    assert load_spec(write(tmp_path, {**plain, "version": 3})).gen_params().json_schema is None


def test_a_bad_schema_names_the_file_and_field(tmp_path):
    path = write(tmp_path, {**PROMPT, "output_schema": {"type": "objekt"}})
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    assert "output_schema" in str(err.value) and "not valid JSON Schema" in str(err.value)


def test_existing_prompts_keep_their_hashes():
    # Adding the field must not change released versions (their lock entries still match).
    from promptkit.paths import PROJECT_ROOT
    from promptkit.prompts.lock import read_lock

    lock = read_lock(PROJECT_ROOT / "prompts" / "prompts.lock")
    for ref in ("rag-answer@3", "judge-faithfulness@1", "closed-book@1"):
        assert load_prompt(ref).hash == lock[ref]


@pytest.mark.parametrize("can_constrain", [True, False])
def test_pipeline_returns_the_parsed_object(tmp_path, can_constrain):
    seen = []

    def reply(messages, params):
        seen.append(params.json_schema)
        return '{"answer": "an encoder", "passage": 1}'

    spec = load_spec(write(tmp_path, PROMPT))
    model = FunctionChatModel(reply, can_constrain=can_constrain)
    pipe = Pipeline(prompt=spec, model=model,
                    collection=FakeRetriever(["BERT is an encoder."]), k=1)
    answer = pipe.ask("What is BERT?")
    assert answer.data == {"answer": "an encoder", "passage": 1}
    assert answer.trace["structured"] == {"outcome": "ok", "constrained": can_constrain}
    assert seen == [SCHEMA if can_constrain else None]


def test_pipeline_reports_an_unparsable_reply_without_raising(tmp_path):
    spec = load_spec(write(tmp_path, PROMPT))
    model = FunctionChatModel(lambda m, p: "An encoder, I think.")
    answer = Pipeline(prompt=spec, model=model, collection=FakeRetriever(["BERT."]), k=1).ask(
        "What is BERT?")
    assert answer.data is None and answer.text == "An encoder, I think."
    assert answer.trace["structured"]["outcome"] == "unparsable"
    assert "no JSON" in answer.trace["structured"]["reason"]


def test_prompts_without_a_schema_answer_as_before():
    model = FunctionChatModel(lambda m, p: "An encoder [1].")
    answer = Pipeline(prompt="rag-answer@3", model=model,
                      collection=FakeRetriever(["BERT is an encoder."]), k=1).ask("What is BERT?")
    assert answer.data is None and "structured" not in answer.trace
    assert "json_schema" not in answer.trace["model"]["params"]
