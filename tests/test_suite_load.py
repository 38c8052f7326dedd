"""Suite files: what loads, and how a malformed one is reported (file, line, case, field)."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.errors import ConfigError
from promptkit.testing.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
name: mini
prompts: [rag-answer@2]
model: fake:echo
cases:
  - id: first
    question: Who wrote it?
    context: ["Ada wrote it."]
    answers: [Ada]
    assert:
      - type: icontains-any
  - id: second
    question: When?
    context: "In 1843."
    critical: true
    assert:
      - type: regex
        pattern: "18[0-9]{2}"
        weight: 2
"""


def write(tmp_path: Path, text: str, name: str = "mini.yaml") -> Path:
    path = tmp_path / "suites" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_suite(write(tmp_path, text))
    return info.value


def test_a_valid_suite_loads_with_defaults_and_paths(tmp_path):
    suite = load_suite(write(tmp_path, GOOD))
    spec = suite.spec
    assert suite.name == "mini"
    assert [c.id for c in spec.cases] == ["first", "second"]
    assert spec.case("second").contexts == ["In 1843."]
    assert spec.is_critical(spec.case("second")) and not spec.is_critical(spec.case("first"))
    assert spec.case("second").assertions[0].weight == 2
    assert suite.recordings_path == (tmp_path / "recordings" / "mini.jsonl").resolve()
    assert suite.baseline_path == (tmp_path / "baselines" / "mini.json").resolve()


def test_unknown_assertion_type_names_case_field_line_and_suggests(tmp_path):
    err = load_error(tmp_path, GOOD.replace("type: regex", "type: regexp"))
    text = str(err)
    assert "mini.yaml:16" in text                       # the line of the bad type
    assert "case 'second'" in text
    assert "cases[1].assert[0].type" in text
    assert "unknown assertion type 'regexp'" in text and "did you mean 'regex'" in text


def test_misspelt_key_is_an_error_with_did_you_mean(tmp_path):
    err = load_error(tmp_path, GOOD.replace("        weight: 2", "        wieght: 2"))
    assert "case 'second'" in str(err)
    assert err.field == "cases[1].assert[0].wieght"
    assert "unknown key 'wieght'" in str(err) and "did you mean 'weight'" in str(err)


def test_wrong_value_type_names_field(tmp_path):
    err = load_error(tmp_path, GOOD.replace("        weight: 2", "        weight: heavy"))
    assert err.field == "cases[1].assert[0].weight" and "case 'second'" in str(err)
    assert "'heavy'" in str(err)


def test_unknown_top_level_key(tmp_path):
    err = load_error(tmp_path, GOOD.replace("model: fake:echo", "modell: fake:echo"))
    assert err.field == "modell" and "did you mean 'model'" in str(err)
    assert err.line == 3


@pytest.mark.parametrize("change, field, words", [
    (("id: second", "id: first"), "cases[1].id", "also used by cases[0]"),
    (("id: second", "id: gate"), "cases[1].id", "reserved"),
    (("    answers: [Ada]\n", ""), "cases[0].assert[0]", "no 'value'"),
    (('pattern: "18[0-9]{2}"', 'pattern: "18[0-9"'), "cases[1].assert[0].pattern",
     "not a valid regular expression"),
    (("    question: When?\n", ""), "cases[1].question", "required key is missing"),
    (("    context: \"In 1843.\"\n", ""), "cases[1].context", "retrieval"),
])
def test_case_problems_are_located(tmp_path, change, field, words):
    err = load_error(tmp_path, GOOD.replace(*change))
    assert err.field == field
    assert words in str(err)
    assert "mini.yaml" in str(err)


def test_bad_json_schema_and_length_bounds_are_refused(tmp_path):
    bad = GOOD.replace('      - type: regex\n        pattern: "18[0-9]{2}"\n        weight: 2',
                       "      - type: is-json\n        schema: {type: 12}\n"
                       "      - type: length\n        min: 5\n        max: 2")
    err = load_error(tmp_path, bad)
    assert "not a valid JSON schema" in str(err) and err.field == "cases[1].assert[0].schema"
    assert "min (5) is larger than max (2)" in (err.hint or "")


def test_unknown_metric_suggests_a_name(tmp_path):
    bad = GOOD.replace('      - type: regex\n        pattern: "18[0-9]{2}"\n        weight: 2',
                       "      - type: metric\n        name: token_f2\n        threshold: 0.5")
    err = load_error(tmp_path, bad)
    assert "unknown metric 'token_f2'" in str(err) and "did you mean 'token_f1'" in str(err)


def test_not_yaml_and_not_a_mapping(tmp_path):
    err = load_error(tmp_path, "name: [unclosed\n")
    assert "not valid YAML" in str(err)
    err = load_error(tmp_path, "- just\n- a list\n")
    assert "expected a mapping" in str(err)


def test_singular_prompt_key_and_name_from_file(tmp_path):
    text = GOOD.replace("name: mini\n", "").replace("prompts: [rag-answer@2]",
                                                     "prompt: rag-answer@1")
    suite = load_suite(write(tmp_path, text, "other.yaml"))
    assert suite.name == "other" and suite.spec.prompts == ["rag-answer@1"]


def test_the_dogfood_suite_is_valid_and_large_enough():
    suite = load_suite(ROOT / "eval" / "suites" / "demo.yaml")
    assert len(suite.spec.cases) >= 30
    assert any(suite.spec.is_critical(c) for c in suite.spec.cases)
