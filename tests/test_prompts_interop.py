"""Prompt files to and from promptfoo, Langfuse, dotprompt and Prompty: round trips, foreign
files written by hand, and the constructs that are refused (with file and line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptkit.cli import run
from promptkit.errors import ConfigError, UserError
from promptkit.prompts import PromptRegistry
from promptkit.prompts.interop import EXPORT_FORMATS, SUFFIXES, export_prompt, import_prompt

PROJECT_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
# Formats with a place for generation settings and promptkit's own metadata.
WITH_SETTINGS = ("langfuse", "dotprompt", "prompty")


def _values(spec) -> dict[str, str]:
    # Braces and a line that looks like a role marker: values are data, never template syntax.
    return {v: f"{{value of {v}}}\nuser: [1] (a.md) text" for v in sorted(spec.variables)}


def _shipped():
    reg = PromptRegistry(PROJECT_PROMPTS)
    return [reg.load(ref) for ref in reg.refs()]


# Shipped prompts a format cannot carry, and why (the export says so instead of guessing).
REFUSED = {("dotprompt", "persona-audience@1"): "variable {role} would become {{role}}",
           ("dotprompt", "persona-speaker@1"): "variable {role} would become {{role}}"}


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_every_shipped_prompt_round_trips(tmp_path, fmt):
    """Export then import renders exactly the same messages (few-shot turns included)."""
    for spec in _shipped():
        if (fmt, spec.ref) in REFUSED:
            with pytest.raises(UserError, match=REFUSED[fmt, spec.ref]):
                export_prompt(spec, fmt)
            continue
        file = tmp_path / f"{spec.name}-{spec.version}{SUFFIXES[fmt]}"
        file.write_text(export_prompt(spec, fmt), encoding="utf-8")
        result = import_prompt(file, fmt, root=tmp_path / "out", name=spec.name)
        back = PromptRegistry(tmp_path / "out").load(result.ref)
        assert back.render(**_values(spec)) == spec.render(**_values(spec)), (fmt, spec.ref)
        assert len(back.examples) == len(spec.select_examples({}))
        if fmt in WITH_SETTINGS:
            # repeat_penalty has no field in these formats (promptfoo keeps it in its config).
            keep = {"repeat_penalty"} if fmt != "promptfoo" else set()
            assert back.params.model_dump(exclude=keep) == spec.params.model_dump(exclude=keep), \
                (fmt, spec.ref)
            assert back.kind == spec.kind
        assert back.labels == []     # labels stay with the released version


def test_import_adds_the_next_version(tmp_path):
    spec = PromptRegistry(PROJECT_PROMPTS).load("rag-answer@2")
    file = tmp_path / "rag.prompt"
    file.write_text(export_prompt(spec, "dotprompt"), encoding="utf-8")
    first = import_prompt(file, "dotprompt", root=tmp_path / "p")
    second = import_prompt(file, "dotprompt", root=tmp_path / "p")
    assert (first.ref, second.ref) == ("rag-answer@1", "rag-answer@2")
    assert second.path.read_text(encoding="utf-8").startswith("# Imported from rag.prompt")


def test_dotprompt_export_reads_like_dotprompt():
    spec = PromptRegistry(PROJECT_PROMPTS).load("rag-answer@2")
    text = export_prompt(spec, "dotprompt")
    assert text.startswith("---\nname: rag-answer\n")
    assert "maxOutputTokens: 200" in text and "question: string" in text
    assert '{{role "system"}}\nAnswer the question' in text
    assert '{{role "user"}}\nContext:\n{{context}}\n\nQuestion: {{question}}' in text


def test_langfuse_and_promptfoo_exports_are_chat_json():
    spec = PromptRegistry(PROJECT_PROMPTS).load("rag-fewshot@2")
    lf = json.loads(export_prompt(spec, "langfuse"))
    assert lf["type"] == "chat" and lf["name"] == "rag-fewshot"
    assert lf["config"]["max_tokens"] == 120 and lf["labels"] == ["production"]
    roles = [m["role"] for m in lf["prompt"]]
    assert roles == ["system"] + ["user", "assistant"] * 4 + ["user"]
    pf = json.loads(export_prompt(spec, "promptfoo"))
    assert pf == lf["prompt"] and "{{question}}" in pf[-1]["content"]


def test_hand_written_dotprompt(tmp_path):
    file = tmp_path / "greet.prompt"
    file.write_text("""---
model: googleai/gemini-1.5-flash
config:
  temperature: 0.7
  topK: 20
  maxOutputTokens: 64
input:
  schema:
    name: string
---
{{! a comment that renders as nothing }}
{{role "system"}}
You greet people {in braces}.

{{role "user"}}
Say hello to {{ name }} and {{{name}}}.
""", encoding="utf-8")
    result = import_prompt(file, "dotprompt", root=tmp_path / "p")
    spec = PromptRegistry(tmp_path / "p").load(result.ref)
    assert result.ref == "greet@1" and spec.kind == "zero-shot"
    assert spec.render(name="Ana") == [
        {"role": "system", "content": "You greet people {in braces}."},
        {"role": "user", "content": "Say hello to Ana and Ana."}]
    assert spec.params.temperature == 0.7 and spec.params.max_tokens == 64
    assert result.ignored == ["config.topK", "model"]


def test_hand_written_prompty(tmp_path):
    file = tmp_path / "basic.prompty"
    file.write_text("""---
name: Basic Prompt
description: A basic prompt
model:
  api: chat
  configuration:
    type: azure_openai
  parameters:
    max_tokens: 128
    temperature: 0.2
sample:
  question: What is BERT?
---
system:
You are an AI assistant. {# a Jinja comment #}

user:
{{question}}
""", encoding="utf-8")
    result = import_prompt(file, "prompty", root=tmp_path / "p")
    spec = PromptRegistry(tmp_path / "p").load(result.ref)
    assert result.ref == "basic@1"      # "Basic Prompt" is no prompt name: the file's stem is
    assert spec.description == "A basic prompt"
    assert spec.render(question="Q?") == [
        {"role": "system", "content": "You are an AI assistant."},
        {"role": "user", "content": "Q?"}]
    assert spec.params.max_tokens == 128 and "model.configuration" in result.ignored


def test_langfuse_text_prompt_and_bare_message_list(tmp_path):
    text = tmp_path / "summary.json"
    text.write_text(json.dumps({"name": "summary", "type": "text",
                                "prompt": "Summarise {{document}}.",
                                "config": {"model": "gpt-4o", "temperature": 0}}))
    result = import_prompt(text, "langfuse", root=tmp_path / "p")
    spec = PromptRegistry(tmp_path / "p").load(result.ref)
    assert spec.render(document="D") == [{"role": "user", "content": "Summarise D."}]
    assert result.ignored == ["config.model"]
    bare = tmp_path / "qa.json"
    bare.write_text(json.dumps([{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "{{q}}"}]))
    assert import_prompt(bare, "langfuse", root=tmp_path / "p").ref == "qa@1"


@pytest.mark.parametrize(("fmt", "suffix", "body", "construct", "line"), [
    ("dotprompt", ".prompt", '---\nname: x\n---\n{{role "user"}}\nHi\n{{#if name}}{{name}}{{/if}}',
     "{{#if}} block", 6),
    ("dotprompt", ".prompt", "---\nname: x\n---\n{{history}}\n{{q}}", "{{history}} helper", 4),
    ("dotprompt", ".prompt", "{{> header}}\n{{q}}", "{{> partial}}", 1),
    ("prompty", ".prompty", "---\nname: x\n---\nsystem:\nHi\n\nuser:\n{% for d in docs %}\n"
                            "{{d}}\n{% endfor %}", "{% for %} statement", 8),
    ("prompty", ".prompty", "user:\n{{ q | upper }}", "a filter", 2),
    ("prompty", ".prompty", "user:\n{{ doc.title }}", "attribute or index access", 2),
    ("promptfoo", ".json", '[\n {"role": "user",\n  "content": "{% if x %}y{% endif %}"}\n]',
     "{% if %} statement", 3),
    ("langfuse", ".json", '[{"role": "user", "content": "Hi {{user-name}}"}]',
     "variable name 'user-name'", 1),
])
def test_control_flow_is_refused_with_construct_file_and_line(tmp_path, fmt, suffix, body,
                                                              construct, line):
    file = tmp_path / f"bad{suffix}"
    file.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        import_prompt(file, fmt, root=tmp_path / "p")
    message = str(info.value)
    assert construct in message and f"{file}:{line}:" in message
    assert not (tmp_path / "p" / "bad").exists()     # nothing half-written


def test_langfuse_placeholder_and_multi_turn_templates_are_refused(tmp_path):
    file = tmp_path / "chat.json"
    file.write_text(json.dumps({"name": "chat", "type": "chat", "prompt": [
        {"type": "placeholder", "name": "history"}, {"role": "user", "content": "{{q}}"}]}))
    with pytest.raises(ConfigError, match="'placeholder' entry"):
        import_prompt(file, "langfuse", root=tmp_path / "p")
    file.write_text(json.dumps([{"role": "user", "content": "{{a}}"},
                                {"role": "assistant", "content": "ok"},
                                {"role": "user", "content": "{{b}}"}]))
    with pytest.raises(ConfigError, match="only the last user turn may take variables"):
        import_prompt(file, "promptfoo", root=tmp_path / "p")


def test_export_refuses_text_the_target_would_parse(tmp_path):
    (tmp_path / "p" / "braces").mkdir(parents=True)
    (tmp_path / "p" / "braces" / "v1.yaml").write_text(
        "name: braces\nversion: 1\nkind: zero-shot\n"
        "template: 'Write {{{{ and {{% literally: {question}'\n", encoding="utf-8")
    spec = PromptRegistry(tmp_path / "p").load("braces")
    with pytest.raises(UserError, match="contains '\\{\\{'"):
        export_prompt(spec, "langfuse")
    with pytest.raises(UserError, match="unknown export format"):
        export_prompt(spec, "yaml")


def test_cli_export_and_import(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert run(["prompts", "export", "rag-answer@2", "--format", "prompty",
                "--root", str(PROJECT_PROMPTS)]) == 0
    exported = capsys.readouterr().out
    assert exported.startswith("---\nname: rag-answer\n") and "\nuser:\nContext:" in exported
    (tmp_path / "rag.prompty").write_text(exported, encoding="utf-8")
    assert run(["prompts", "import", "rag.prompty", "--from", "prompty", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # No --root and no $PROMPTKIT_PROMPTS: the user's ./prompts, created, never the shipped set.
    assert out["ref"] == "rag-answer@1"
    assert Path(out["path"]) == tmp_path / "prompts" / "rag-answer" / "v1.yaml"
    (tmp_path / "bad.prompt").write_text("{{#each docs}}{{this}}{{/each}}", encoding="utf-8")
    assert run(["prompts", "import", "bad.prompt", "--from", "dotprompt"]) == 2
    err = capsys.readouterr().err
    assert "{{#each}} loop" in err and "bad.prompt:1" in err
