"""Retrieval metrics against hand-computed values (binary and graded relevance)."""

from __future__ import annotations

import math

import pytest

from promptkit.errors import UserError
from promptkit.evaluation.metrics import MetricCase, get_metric

GRADED = {"d1": 3, "d2": 2, "d4": 1, "d7": 0}   # d7 judged not relevant
RANKED = ["d3", "d1", "d5", "d2", "d4"]


def score(name: str, gold=GRADED, ranked=RANKED, **options) -> float:
    c = MetricCase(gold_ids=gold, retrieved_ids=ranked)
    result = get_metric(name, **options).evaluate("", c)
    assert result.ok, result
    return result.value


def test_hit_recall_mrr():
    assert score("hit@1") == 0.0
    assert score("hit@2") == 1.0
    assert score("recall@2") == pytest.approx(1 / 3)
    assert score("recall@4") == pytest.approx(2 / 3)
    assert score("recall@5") == 1.0
    assert score("mrr@1") == 0.0
    assert score("mrr@5") == 0.5


def test_ndcg_graded_linear_gain():
    # DCG@4 = 0/log2(2) + 3/log2(3) + 0/log2(4) + 2/log2(5)
    # IDCG@4 from the qrels (3, 2, 1): 3/log2(2) + 2/log2(3) + 1/log2(4)
    dcg = 3 / math.log2(3) + 2 / math.log2(5)
    idcg = 3 + 2 / math.log2(3) + 1 / 2
    assert score("ndcg@4") == pytest.approx(dcg / idcg)
    assert score("ndcg@4") == pytest.approx(0.5783754, abs=1e-7)


def test_ndcg_exponential_gain():
    # gains 2**g - 1: 7, 3, 1
    dcg = 7 / math.log2(3) + 3 / math.log2(5)
    idcg = 7 + 3 / math.log2(3) + 1 / 2
    assert score("ndcg_at_k", k=4, gain="exponential") == pytest.approx(dcg / idcg)


def test_binary_gold_and_duplicate_ids_count_once():
    ranked = ["d3", "d1", "d1", "d9"]   # d1 twice: e.g. two chunks of one document
    # after dedup [d3, d1, d9]: DCG = 1/log2(3) + 1/log2(4); IDCG (2 relevant) = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert score("ndcg@3", gold=["d1", "d9"], ranked=ranked) == pytest.approx(expected)
    assert score("recall@3", gold=["d1", "d9"], ranked=ranked) == 1.0


def test_retrieved_ids_fall_back_to_the_trace():
    metric = get_metric("hit@2")
    trace = {"retrieved": [{"id": "d3", "score": 0.9}, {"id": "d1", "score": 0.8}]}
    assert metric.evaluate("", {"gold_ids": ["d1"], "trace": trace}).value == 1.0
    result = metric.evaluate("", {"gold_ids": ["d1"], "trace": trace})
    assert result.detail == {"first_relevant_rank": 2}


def test_missing_inputs_are_errors():
    metric = get_metric("recall@5")
    assert metric.evaluate("", MetricCase(retrieved_ids=["d1"])).outcome == "error"
    assert metric.evaluate("", MetricCase(gold_ids=["d1"])).outcome == "error"
    assert metric.evaluate("", MetricCase(gold_ids={"d1": 0}, retrieved_ids=["d1"])).outcome == (
        "error")
    with pytest.raises(UserError, match="k must be a positive integer"):
        get_metric("hit_at_k", k=0)
    with pytest.raises(UserError, match="gain"):
        get_metric("ndcg_at_k", gain="log")


def test_ndcg_on_beir_scifact_qrels(shared_data):
    """Qrels from a real BEIR file: the ideal ranking scores 1, a pushed-down one less."""
    qrels: dict[str, dict[str, int]] = {}
    with open(shared_data / "beir_scifact" / "qrels" / "test.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, doc, grade = line.split("\t")
            qrels.setdefault(qid, {})[doc] = int(grade)
    qid, rel = next((q, r) for q, r in qrels.items() if len(r) >= 3)
    ideal = sorted(rel, key=rel.get, reverse=True)
    assert score("ndcg@10", gold=rel, ranked=ideal) == pytest.approx(1.0)
    noisy = ["x1", "x2", *ideal]
    assert score("ndcg@10", gold=rel, ranked=noisy) < 1.0
    assert score("recall@10", gold=rel, ranked=noisy) == 1.0
