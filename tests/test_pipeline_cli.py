"""`promptkit ask` and `promptkit models list` through the CLI entry point."""

from __future__ import annotations

import json
import re

import pytest

from promptkit.cli import run
from tests.fixtures_llm import free_port

DEMO_DOCS = {
    "bert.md": "# BERT\n\nBERT is an encoder-only transformer pre-trained with masked "
               "language modelling.",
    "gpt.md": "# GPT\n\nGPT models are decoder-only transformers that predict the next token.",
}


@pytest.fixture
def tiny_demo(tmp_path, monkeypatch):
    """A two-file demo corpus in place of the real one (same code path, seconds not minutes)."""
    corpus = tmp_path / "demo-corpus"
    corpus.mkdir()
    for name, text in DEMO_DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr("promptkit.paths.demo_corpus_dir", lambda: corpus)
    return corpus


@pytest.mark.slow
def test_ask_builds_the_demo_collection_on_first_use(tiny_demo, capsys):
    assert run(["ask", "What is BERT?", "--model", "fake:BERT is an encoder [1].", "-k", "2",
                "--show-context"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^\(fake:BERT is an encoder \[1\]\., \d+\.\d s\)$", err, re.M)  # the model
    assert "First run: building the 'demo' collection" in err and "Ingested:" in err
    assert "--- [1] " in err and "masked language modelling" in err  # --show-context
    assert out.startswith("BERT is an encoder [1].")
    sources = out.split("\nSources:\n", 1)[1]
    assert re.search(r"^ \[1\] \S*bert\.md  \(cited, support \d\.\d{3}\)$", sources, re.M)
    assert "Also given:\n  [2] " in sources and "gpt.md  (score " in sources

    # A marker naming the wrong passage: shown as weak, with the passage that does support it.
    assert run(["ask", "What is BERT?", "-k", "2", "--model",
                "fake:BERT is an encoder-only transformer pre-trained with masked language "
                "modelling [2]."]) == 0
    sources = capsys.readouterr()[0].split("\nSources:\n", 1)[1]
    assert re.search(r"^ \[2\] \S*gpt\.md  \(cited, weakly supported, support ", sources, re.M)
    assert re.search(r"^ \[1\] \S*bert\.md  \(attributed, support ", sources, re.M)

    # An answer no passage supports says so, in the text and in --json.
    assert run(["ask", "What is BERT?", "-k", "2", "--model",
                "fake:Paris is the capital of France."]) == 0
    assert "Sources: no supporting passage among the 2 given" in capsys.readouterr()[0]
    assert run(["ask", "What is BERT?", "-k", "2", "--json", "--model",
                "fake:Paris is the capital of France."]) == 0
    data = json.loads(capsys.readouterr()[0])
    assert data["supported"] is False and data["citations"] == []
    # A marker whose passage does not back the sentence is shown, and is no support either.
    assert run(["ask", "What is BERT?", "-k", "2", "--model",
                "fake:Paris is the capital of France [1]."]) == 0
    out = capsys.readouterr()[0]
    assert "(cited, weakly supported, support " in out
    assert "No supporting passage among the 2 given" in out
    assert run(["ask", "What is BERT?", "-k", "2", "--json", "--model",
                "fake:Paris is the capital of France [1]."]) == 0
    data = json.loads(capsys.readouterr()[0])
    assert data["supported"] is False and data["trace"]["unsupported_markers"] == [1]

    assert run(["ask", "What is GPT?", "--model", "fake:echo", "--json",
                "--order", "reversed"]) == 0
    out, err = capsys.readouterr()
    assert "First run" not in err  # built once, reused
    data = json.loads(out)
    assert data["supported"] is True
    assert data["trace"]["retrieval"]["collection"] == "demo"
    assert data["trace"]["context"]["order"] == "reversed"
    assert "(gpt.md)" in data["text"]  # fake:echo answers with the prompt it was given


@pytest.mark.slow
def test_ask_closed_book_with_the_real_model(smollm2, capsys):
    assert run(["ask", "What is the capital of France?", "--mode", "closed-book",
                "--max-tokens", "16", "--cache-mode", "off"]) == 0
    out, _ = capsys.readouterr()
    assert out.strip() and "Sources" not in out


def test_ask_reports_unreachable_backend_cleanly(tiny_demo, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    code = run(["ask", "What is BERT?", "--mode", "closed-book", "--model", f"openai:m@{url}"])
    _, err = capsys.readouterr()
    assert code == 1
    assert f"cannot reach OpenAI-compatible server at {url}" in err
    assert "Traceback" not in err


def test_ask_rejects_bad_options(capsys):
    assert run(["ask", "q", "--mode", "closed-book", "--model", "fake:x", "--order", "middle"]) == 2
    assert "unknown context order 'middle'" in capsys.readouterr().err
    assert run(["ask", "q", "--mode", "closed-book", "--model", "nope:x"]) == 2
    assert run(["ask", "q", "--mode", "closed-book", "--model", "fake:x",
                "--cache-mode", "sometimes"]) == 2


def test_ask_replay_miss_is_a_clear_error(capsys):
    code = run(["ask", "q", "--mode", "closed-book", "--model", "llamacpp:smollm2-135m",
                "--cache-mode", "replay"])
    err = capsys.readouterr().err
    assert code == 2 and "replay mode" in err and "record" in err


@pytest.mark.slow
def test_models_list_probes_servers(ollama_proxy, llama_server, monkeypatch, capsys):
    monkeypatch.setenv("OLLAMA_HOST", ollama_proxy)
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert run(["models", "list", "--json"]) == 0
    entries = {e["spec"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["llamacpp:smollm2-135m"]["status"] == "installed"
    assert any(s.startswith("ollama:") and e["status"] == "reachable" for s, e in entries.items())
    assert any(s.startswith("openai:") and e["status"] == "reachable" for s, e in entries.items())
    assert entries["fake:echo"]["status"] == "installed"


def test_models_list_when_nothing_runs(monkeypatch, capsys):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert run(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "unreachable" in out and "ollama serve" in out
    assert "not configured" in out
