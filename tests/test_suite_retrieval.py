"""Suite retrieval: a real (embedded) Chroma store when recording, the recordings on replay."""

from __future__ import annotations

import json

import pytest

from promptkit.testing.suite import load_suite
from promptkit.testing.suite_runner import SuiteRunner

SUITE = """\
name: shelf
prompts: [rag-answer@2]
model: fake:echo
retrieval:
  collection: shelf-suite
  corpus: ../corpus
  embedder: fake
  k: 2
cases:
  - id: otters
    question: What do sea otters hold while they sleep?
    answers: [hands]
    gold_docs: [otters.md]
    assert:
      - type: icontains-any
      - type: cites
        gold: true
"""


@pytest.fixture
def shelf(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "otters.md").write_text("# Otters\n\nSea otters hold hands while they sleep.\n")
    (corpus / "bees.md").write_text("# Bees\n\nHoney bees dance to show where flowers are.\n")
    (corpus / "owls.md").write_text("# Owls\n\nOwls turn their heads a long way round.\n")
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "shelf.yaml").write_text(SUITE)
    return load_suite(suites / "shelf.yaml")


def test_record_stores_relative_sources_and_replay_needs_no_store(shelf, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_HOME", str(tmp_path / "home-record"))
    recorded = SuiteRunner(shelf, mode="record").run_case("otters", "rag-answer@2")
    assert recorded.passed, recorded.report()
    lines = [json.loads(x) for x in shelf.recordings_path.read_text().splitlines()]
    retrieval = next(e for e in lines if e["role"] == "retrieval")
    assert retrieval["hits"][0]["source"] == "otters.md"          # not an absolute path
    assert retrieval["retrieval"]["corpus"].startswith("sha256:")
    answer = next(e for e in lines if e["role"] == "answer")
    assert str(tmp_path) not in json.dumps(answer["messages"])   # replayable in any checkout

    monkeypatch.setenv("PROMPTKIT_HOME", str(tmp_path / "home-replay"))
    replayed = SuiteRunner(shelf, mode="replay").run_case("otters", "rag-answer@2")
    assert replayed.passed and replayed.runs[0].text == recorded.runs[0].text
    assert not (tmp_path / "home-replay").exists()                # no store was opened

    (tmp_path / "corpus" / "owls.md").write_text("# Owls\n\nOwls are quiet fliers.\n")
    stale = SuiteRunner(load_suite(shelf.path), mode="replay").run_case("otters", "rag-answer@2")
    assert stale.status == "error"
    assert "no recorded retrieval for case 'otters'" in stale.error
    assert "Changed since it was recorded: corpus." in stale.error
    assert "--mode record" in stale.hint
