"""The rerank stage: retrieve k₁ candidates, reorder them, keep k — in the pipeline and its
trace, eval configs, suites (recorded, so replay needs no model) and the k-sweep.

The cross-encoder tests build a tiny BERT cross-encoder in a temporary folder (no cross-encoder
ships on PyPI) and check the plumbing: the order promptkit keeps is the order the
sentence-transformers `CrossEncoder` itself scores. Its random weights say nothing about
relevance; the word-overlap `fake` reranker is what checks that reranking changes the answer.
"""

from __future__ import annotations

import json
import os

import pytest

from promptkit.errors import ConfigError, NotFoundError, UserError
from promptkit.pipeline import Pipeline
from promptkit.retrieval.rerank import FakeReranker, Reranker, get_reranker
from promptkit.testing.fakes import FakeChatModel
from tests.test_pipeline_cli import tiny_demo  # noqa: F401 - a fixture shared with that file

QUESTION = "Which part of the Transformer does BERT use?"
# First-stage order puts the answer last; the reranker must bring it forward.
PASSAGES = [
    ("chroma.md", "Chroma stores vectors in collections."),
    ("gpt.md", "GPT uses the decoder of the Transformer."),
    ("misc.md", "Attention weighs every token."),
    ("bert.md", "BERT uses the encoder part of the Transformer."),
]


class FixedOrder:
    """A retriever that returns the passages in the order given, recording the k asked."""

    name = "fixed"

    def __init__(self, passages=PASSAGES):
        self.passages, self.asked = passages, []

    def search(self, query, k=4, **options):
        self.asked.append(k)
        return [{"id": source, "text": text, "source": source, "score": 1.0 - i / 10}
                for i, (source, text) in enumerate(self.passages[:k])]


def _pipe(**options) -> Pipeline:
    return Pipeline(model=FakeChatModel(default="ok [1]"), collection=FixedOrder(),
                    max_tokens=32, **options)


def test_pipeline_reranks_candidates_and_records_both_stages():
    pipe = _pipe(k=2, rerank="fake", rerank_candidates=4)
    answer = pipe.ask(QUESTION)
    assert pipe.retriever.asked == [4]                       # k₁ candidates retrieved
    r = answer.trace["retrieval"]
    assert [h["id"] for h in r["retrieved"]] == ["bert.md", "gpt.md"]   # reranked, cut to k
    assert [h["rank"] for h in r["retrieved"]] == [1, 2]
    assert r["rerank"]["reranker"] == "fake" and r["rerank"]["candidates"] == 4
    assert r["rerank"]["seconds"] >= 0          # part of latency.retrieve_s
    assert [h["id"] for h in r["rerank"]["retrieved"]] == [s for s, _ in PASSAGES]
    assert answer.citations[0].id == "bert.md"
    chunk = pipe.retrieve(QUESTION)[0]
    assert chunk.metadata["retrieval_rank"] == 4 and chunk.score == pytest.approx(5 / 8)


def test_without_rerank_the_trace_says_so_and_k_is_asked():
    pipe = _pipe(k=2)
    trace = pipe.ask(QUESTION).trace
    assert pipe.retriever.asked == [2] and trace["retrieval"]["rerank"] is None


def test_candidates_default_and_checks():
    assert _pipe(k=2, rerank="fake").rerank_candidates == 20
    assert _pipe(k=8, rerank="fake").rerank_candidates == 32
    with pytest.raises(UserError, match="at least k"):
        _pipe(k=4, rerank="fake", rerank_candidates=2)
    with pytest.raises(NotFoundError, match="unknown reranker 'crossencoder'"):
        get_reranker("crossencoder")
    with pytest.raises(UserError, match="does not exist"):
        get_reranker("./no/such/cross-encoder")


def test_any_reranker_object_plugs_in():
    class Shortest(Reranker):
        name = "shortest"

        def score(self, query, texts):
            return [-len(t) for t in texts]

    answer = _pipe(k=1, rerank=Shortest()).ask(QUESTION)
    assert answer.trace["retrieval"]["retrieved"][0]["id"] == "misc.md"
    assert answer.trace["retrieval"]["rerank"]["reranker"] == "shortest"


def test_eval_config_carries_rerank_to_the_pipeline():
    from promptkit.evaluation.config import config_from_dict
    from promptkit.evaluation.datasets import Case
    from promptkit.evaluation.runner import build_pipeline

    base = {"name": "r", "dataset": {"path": "x.jsonl"}, "metrics": ["token_f1"],
            "pipeline": {"model": "fake:echo", "k": 3}}
    plain = config_from_dict(base)
    reranked = config_from_dict({**base, "pipeline": {**base["pipeline"], "rerank": "fake",
                                                      "rerank_candidates": 12}})
    assert plain.fingerprint() != reranked.fingerprint()
    # Settings left unset do not enter the hash: runs made before rerank existed still resume.
    data = plain.to_dict()
    assert data["pipeline"].pop("rerank") is None and data["pipeline"].pop("rerank_candidates") \
        is None
    case = Case(id="c", question="q?", answers=["a"], contexts=[{"id": "p", "text": "a"}])
    pipe = build_pipeline(reranked, [case], notify=lambda _m: None)
    assert pipe.rerank_candidates == 12 and isinstance(pipe.reranker, FakeReranker)
    with pytest.raises(ConfigError, match="rerank_candidates"):
        config_from_dict({**base, "pipeline": {"k": 5, "rerank": "fake", "rerank_candidates": 3}})


# ---------------------------------------------------------------- suites: recorded scores

SUITE = """\
name: rr
prompts: [rag-answer@2]
model: fake:echo
retrieval:
  collection: rr-suite
  corpus: ../corpus
  embedder: fake
  k: 1
  rerank: fake
  rerank_candidates: 3
cases:
  - id: bert
    question: Which part of the Transformer does BERT use?
    assert:
      - type: contains
        value: encoder
"""


@pytest.fixture
def suite(tmp_path):
    from promptkit.testing.suite import load_suite

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for source, text in PASSAGES:
        (corpus / source).write_text(text + "\n")
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "rr.yaml").write_text(SUITE)
    return load_suite(tmp_path / "suites" / "rr.yaml")


def test_suite_records_rerank_scores_and_replays_without_the_model(suite, tmp_path, monkeypatch):
    from promptkit.testing.suite_runner import SuiteRunner

    monkeypatch.setenv("PROMPTKIT_HOME", str(tmp_path / "home-record"))
    recorded = SuiteRunner(suite, mode="record").run_case("bert", "rag-answer@2")
    assert recorded.passed, recorded.report()
    entries = [json.loads(x) for x in suite.recordings_path.read_text().splitlines()]
    rerank = next(e for e in entries if "rerank" in (e.get("retrieval") or {}))
    assert rerank["retrieval"]["rerank"] == "fake" and len(rerank["hits"]) == 3

    def no_scoring(*_args):
        raise AssertionError("replay scored with the reranker instead of the recordings")

    monkeypatch.setattr(FakeReranker, "score", no_scoring)
    monkeypatch.setenv("PROMPTKIT_HOME", str(tmp_path / "home-replay"))
    replayed = SuiteRunner(suite, mode="replay").run_case("bert", "rag-answer@2")
    assert replayed.passed and replayed.runs[0].text == recorded.runs[0].text


# ---------------------------------------------------------------- k-sweep

def test_k_sweep_reranks_once_before_taking_prefixes(tmp_path):
    from promptkit.experiments import run_experiment
    from promptkit.testing.fakes import FunctionChatModel
    from tests.test_experiments import _dataset, _retrieval_cfg, first_passage_reader

    data = _dataset(tmp_path / "qa.jsonl")
    cfg = _retrieval_cfg(data, "k-sweep", ks=[1, 2])
    cfg["retrieval"].update(rerank="fake", rerank_candidates=7)
    result = run_experiment(cfg, tmp_path / "run", model=FunctionChatModel(first_passage_reader))
    saved = json.loads((result.run_dir / "retrieval.json").read_text())
    assert saved["key"]["rerank"] == "fake" and saved["key"]["rerank_candidates"] == 7
    for ranked in saved["cases"].values():
        assert len(ranked) == 2 and ranked[0]["id"].endswith("-gold")   # overlap finds gold
        assert ranked[0]["retrieval_rank"] is not None
    rows = result.summary["analysis"]["rows"]
    assert rows[0]["recall"]["mean"] == 1.0 and rows[0]["mean"] == 1.0


# ---------------------------------------------------------------- a real CrossEncoder

@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory):
    """A 1-layer BERT with one output, and a word-level vocabulary, saved like a real model."""
    pytest.importorskip("sentence_transformers",
                        reason='sentence-transformers is not installed (pip install '
                               '"promptkit[embed]")')
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    words = {w.strip(".?,").lower() for _, text in PASSAGES for w in text.split()}
    words |= {w.strip(".?,").lower() for w in QUESTION.split()}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        num_labels=1, initializer_range=0.5)
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


@pytest.mark.embedder
def test_cross_encoder_order_is_the_models_own(tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    texts = [t for _, t in PASSAGES]
    expected = CrossEncoder(str(tiny_cross_encoder)).predict([(QUESTION, t) for t in texts])
    best_first = sorted(range(len(texts)), key=lambda i: -expected[i])
    pipe = _pipe(k=3, rerank=str(tiny_cross_encoder), rerank_candidates=4)
    answer = pipe.ask(QUESTION)
    kept = answer.trace["retrieval"]["retrieved"]
    assert [h["id"] for h in kept] == [PASSAGES[i][0] for i in best_first[:3]]
    assert [h["score"] for h in kept] == pytest.approx([float(expected[i])
                                                        for i in best_first[:3]], rel=1e-5)
    assert answer.trace["retrieval"]["rerank"]["reranker"] == str(tiny_cross_encoder)


@pytest.mark.embedder
def test_cross_encoder_from_a_hub_cache_offline(tiny_cross_encoder, tmp_path, monkeypatch):
    """`hf:org/name` resolves to a snapshot in the Hub cache (HF_HUB_OFFLINE=1, no network)."""
    commit = "c" * 40
    repo = tmp_path / "hub" / "models--acme--tiny-cross-encoder"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in tiny_cross_encoder.iterdir():
        (snapshot / f.name).symlink_to(os.path.abspath(f))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from promptkit.retrieval.rerank import CrossEncoderReranker

    from_hub = CrossEncoderReranker("hf:acme/tiny-cross-encoder")
    local = get_reranker(str(tiny_cross_encoder))
    texts = [t for _, t in PASSAGES]
    assert from_hub.rank(QUESTION, texts, 4) == local.rank(QUESTION, texts, 4)
    with pytest.raises(UserError, match="not in the local Hugging Face cache"):
        CrossEncoderReranker("hf:acme/absent").score(QUESTION, texts)


@pytest.mark.slow
@pytest.mark.usefixtures("tiny_demo")
def test_ask_cli_reranks(capsys):
    from promptkit.cli import run

    assert run(["ask", "What is BERT?", "--model", "fake:echo", "-k", "1", "--rerank", "fake",
                "--rerank-candidates", "2", "--json"]) == 0
    retrieval = json.loads(capsys.readouterr().out)["trace"]["retrieval"]
    assert retrieval["rerank"]["reranker"] == "fake" and len(retrieval["rerank"]["retrieved"]) == 2
    assert len(retrieval["retrieved"]) == 1
