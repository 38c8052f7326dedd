"""Eval config files: strict validation that names the file and the field."""

from __future__ import annotations

import pytest

from promptkit.errors import ConfigError
from promptkit.evaluation.config import load_config
from promptkit.paths import PROJECT_ROOT

GOOD = """\
name: demo
dataset:
  path: data/qa.jsonl
  limit: 3
pipeline:
  prompt: rag-answer@2
  k: 3
  order: edges
  max_tokens: 32
metrics:
  - token_f1
  - name: hit@3
  - name: contains_any
    options: {normalize: multi}
repeats: 2
"""


def test_good_config_with_metric_shorthand_and_relative_dataset(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "qa.jsonl").write_text("")
    p = tmp_path / "c.yaml"
    p.write_text(GOOD)
    cfg = load_config(p)
    assert [m.name for m in cfg.metrics] == ["token_f1", "hit@3", "contains_any"]
    assert cfg.metrics[2].options == {"normalize": "multi"}
    assert cfg.pipeline.model == "llamacpp:smollm2-135m" and cfg.pipeline.order == "edges"
    assert cfg.dataset_path() == tmp_path / "data" / "qa.jsonl"
    assert cfg.source == str(p)


def test_fingerprint_ignores_concurrency_and_limit_but_not_settings(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(GOOD)
    base = load_config(p).fingerprint()
    p.write_text(GOOD.replace("limit: 3", "limit: 30") + "concurrency: 8\n")
    assert load_config(p).fingerprint() == base
    p.write_text(GOOD.replace("k: 3", "k: 5"))
    assert load_config(p).fingerprint() != base


@pytest.mark.parametrize("text, field, words", [
    (GOOD.replace("repeats: 2", "repeat: 2"), "repeat",
     "unknown key 'repeat' (did you mean 'repeats'?)"),
    (GOOD.replace("k: 3", "kk: 3"), "pipeline.kk", "unknown key"),
    (GOOD.replace("order: edges", "order: middle"), "pipeline.order", "ranked"),
    (GOOD.replace("repeats: 2", "repeats: 0"), "repeats", "greater than or equal to 1"),
    (GOOD.replace("name: demo", "name: a/b"), "name", "without slashes"),
    (GOOD + "on_bad_lines: ignore\n", "on_bad_lines", "skip"),
])
def test_bad_settings_name_file_and_field(tmp_path, text, field, words):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert err.value.field == field and err.value.path == str(p)
    assert err.value.line is not None   # the offending line of the file
    assert words in str(err.value)


def test_yaml_syntax_error_gives_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\ndataset: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert err.value.line is not None and "not valid YAML" in str(err.value)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", ["demo-rag-answer-v1.yaml", "demo-rag-answer-v2.yaml"])
def test_project_configs_validate(name):
    cfg = load_config(PROJECT_ROOT / "eval" / "configs" / name)
    assert cfg.dataset_path().name == "demo-qa.jsonl"
    assert cfg.pipeline.prompt.startswith("rag-answer@")
