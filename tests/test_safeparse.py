"""Text nested deeper than Python's parsers follow is malformed input, wherever it comes from:
a model's reply (judges, structured output, the is-json assertion) as much as a user's file
(those are rows of tests/test_hostile.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from promptkit.evaluation.metrics_judge import parse_verdict
from promptkit.llm.base import Generation
from promptkit.llm.structured import json_values, parse_reply
from promptkit.safeparse import TOO_DEEP, load_yaml, loads_json
from tests.test_suite_assertions import check

DEEP = "[" * 3000 + "]" * 3000
SCHEMA = {"type": "object", "properties": {"score": {"type": "integer"}},
          "required": ["score"]}


def test_the_parsers_raise_their_own_errors():
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        loads_json(DEEP)
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        loads_json(DEEP.encode())
    with pytest.raises(yaml.YAMLError, match="nested too deeply"):
        load_yaml("x: " + DEEP)
    assert loads_json('{"a": [1]}') == {"a": [1]} and load_yaml("a: [1]") == {"a": [1]}
    assert "nested too deeply" in TOO_DEEP


def test_a_deep_model_reply_is_unparsable_not_a_crash():
    reply = Generation(text=DEEP, model="fake:echo", finish_reason="stop")
    constrained = parse_reply(reply, SCHEMA, constrained=True)
    assert constrained.outcome == "unparsable" and "nested too deeply" in constrained.reason
    free = parse_reply(reply, SCHEMA, constrained=False)
    assert free.outcome == "unparsable"
    assert parse_verdict(DEEP).outcome == "unparsable"


def test_the_json_after_a_deep_prefix_is_still_found():
    text = "[" * 1200 + " and then " + '{"score": 4}'
    assert json_values(text) == [{"score": 4}]
    assert parse_verdict(text, scale=(1, 5)).outcome != "unparsable"


def test_is_json_fails_a_deep_reply_with_a_reason():
    outcome = check({"type": "is-json"}, DEEP)
    assert not outcome.passed and "nested too deeply" in outcome.message


def test_files_promptkit_writes_but_users_may_edit_are_errors_too(tmp_path):
    """A prompt lock or suite baseline edited into deep nesting is a ConfigError naming it."""
    from promptkit.errors import ConfigError
    from promptkit.prompts.lock import read_lock
    from promptkit.testing.baseline import read_baseline

    for read in (read_lock, read_baseline):
        path = tmp_path / f"{read.__name__}.json"
        path.write_text(DEEP, encoding="utf-8")
        with pytest.raises(ConfigError, match="nested too deeply") as info:
            read(path)
        assert info.value.path == str(path)
