"""BEIR evaluation: metric definitions, a tiny dataset end to end, and SciFact against MTEB."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from promptkit.embedders import get_embedder
from promptkit.errors import ConfigError, UserError
from promptkit.retrieval import beir

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_metric_definitions():
    rel = {"d1": 1.0, "d4": 1.0}
    ranked = ["d3", "d1", "d2", "d4"]
    assert beir.ndcg(ranked, rel, 10) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert beir.recall(ranked, rel, 2) == 0.5 and beir.recall(ranked, rel, 4) == 1.0
    assert beir.mrr(ranked, rel, 10) == 0.5 and beir.mrr(ranked, rel, 1) == 0.0
    assert beir.hit(ranked, rel, 1) == 0.0 and beir.hit(ranked, rel, 2) == 1.0
    graded = {"a": 2.0, "b": 1.0}
    assert beir.ndcg(["a", "b"], graded, 10) == pytest.approx(1.0)
    assert beir.ndcg(["b", "a"], graded, 10) < 1.0


@pytest.fixture
def tiny_beir(tmp_path) -> Path:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    docs = {"d1": ("Cats", "cats purr and sleep"), "d2": ("Dogs", "dogs bark loudly"),
            "d3": ("Rockets", "rockets fly to orbit"), "d4": ("Tea", "green tea leaves")}
    (root / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in docs.items()))
    queries = {"q1": "why do cats purr", "q2": "rockets orbit", "q3": "unjudged query"}
    (root / "queries.jsonl").write_text("".join(
        json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n"
                                             "q2\td4\t0\n")
    return root


def test_tiny_dataset_exact_and_hnsw_agree(tiny_beir):
    emb = get_embedder("fake")
    exact = beir.evaluate(tiny_beir, emb, k=2, exact=True)
    hnsw = beir.evaluate(tiny_beir, emb, k=2, exact=False)
    assert exact["queries"] == 2 and exact["documents"] == 4     # q3 unjudged, grade 0 dropped
    assert exact["ndcg@10"] == 100.0 and exact["hit@2"] == 100.0 and exact["recall@2"] == 100.0
    for key in ("ndcg@10", "recall@2", "mrr@10", "hit@2"):
        assert hnsw[key] == pytest.approx(exact[key])


def test_bad_beir_folders_are_user_errors(tiny_beir, tmp_path):
    with pytest.raises(UserError, match="Splits found: test"):
        beir.load(tiny_beir, "dev")
    with pytest.raises(UserError, match="does not exist"):
        beir.load(tmp_path / "nowhere")
    (tiny_beir / "qrels" / "test.tsv").write_text("q1\td1\tnot-a-number\n")
    with pytest.raises(ConfigError, match="test.tsv:1"):
        beir.load(tiny_beir)


@pytest.mark.slow
def test_scifact_minilm_reproduces_mteb(shared_data, minilm_embedder, monkeypatch):
    """MTEB: all-MiniLM-L6-v2 on SciFact test, nDCG@10 = 64.51.

    The first run embeds 5,183 abstracts (about 5 minutes on 2 idle cores). The vectors are
    cached by content hash and model in a per-user folder, so every checkout on the machine
    reuses them; the ranking and the metrics are computed afresh each time.
    """
    monkeypatch.setenv("PROMPTKIT_EMBED_CACHE", str(Path.home() / ".cache" / "promptkit" /
                                                    "embeddings"))
    result = beir.evaluate(shared_data / "beir_scifact", minilm_embedder, k=10, exact=True)
    assert result["queries"] == 300 and result["documents"] == 5183
    assert 63.51 <= result["ndcg@10"] <= 65.51, result
    assert 75.0 <= result["recall@10"] <= 82.0, result
