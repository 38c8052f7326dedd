"""Retrieval metrics from gold ids: hit@k, recall@k, MRR@k, nDCG@k.

Gold ids are a list (every id relevant, grade 1) or a mapping id -> grade (BEIR qrels;
grades <= 0 count as not relevant). Retrieved ids are read from the case's `retrieved_ids`,
else from its trace (`retrieved_ids`, or `retrieved: [{"id": ...}, ...]`), in rank order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptkit.errors import UserError
from promptkit.evaluation.metrics_base import Metric, MetricResult, case_field

# The per-query functions are defined once, in the retrieval layer; re-exported here.
from promptkit.retrieval.ir_metrics import (  # noqa: F401
    hit_at_k,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)


def relevance(gold: Any) -> dict[str, float]:
    """Gold ids as {id: grade > 0}."""
    if isinstance(gold, Mapping):
        return {str(k): float(v) for k, v in gold.items() if float(v) > 0}
    return {str(k): 1.0 for k in gold}


def ranked_ids(case: Any) -> list[str] | None:
    """The retrieved ids in rank order, first occurrence only; None when the case has none."""
    ids = case_field(case, "retrieved_ids")
    if ids is None:
        trace = case_field(case, "trace", {})
        ids = trace.get("retrieved_ids")
        if ids is None and isinstance(trace.get("retrieved"), list):
            ids = [h["id"] for h in trace["retrieved"] if isinstance(h, Mapping) and "id" in h]
    if ids is None:
        return None
    # Each document counts once, as in trec_eval: when chunk ids are mapped to document
    # ids, three chunks of one relevant document must not count as three hits.
    return list(dict.fromkeys(str(i) for i in ids))


class _AtK(Metric):
    label = ""

    def __init__(self, k: int = 5):
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise UserError(f"metric '{self.label}@k': k must be a positive integer, got {k!r}")
        self.k = k
        self.name = f"{self.label}@{k}"

    def _score(self, ranked: list[str], rel: dict[str, float]) -> float:
        raise NotImplementedError

    def evaluate(self, prediction, case):
        gold = case_field(case, "gold_ids")
        if gold is None:
            return MetricResult.error("case has no gold ids")
        rel = relevance(gold)
        if not rel:
            return MetricResult.error("case has no relevant gold ids (all grades are 0)")
        ranked = ranked_ids(case)
        if ranked is None:
            return MetricResult.error("no retrieved ids (was the case run with retrieval?)")
        first = next((i for i, doc in enumerate(ranked[:self.k], start=1) if doc in rel), None)
        return MetricResult(self._score(ranked, rel), detail={"first_relevant_rank": first})


class HitAtK(_AtK):
    label = "hit"
    binary = True

    def _score(self, ranked, rel):
        return hit_at_k(ranked, rel, self.k)


class RecallAtK(_AtK):
    label = "recall"

    def _score(self, ranked, rel):
        return recall_at_k(ranked, rel, self.k)


class MRR(_AtK):
    label = "mrr"

    def __init__(self, k: int = 10):
        super().__init__(k)

    def _score(self, ranked, rel):
        return reciprocal_rank(ranked, rel, self.k)


class NDCGAtK(_AtK):
    label = "ndcg"

    def __init__(self, k: int = 10, gain: str = "linear"):
        if gain not in ("linear", "exponential"):
            raise UserError(f"metric 'ndcg@k': gain must be 'linear' or 'exponential', "
                            f"got {gain!r}")
        super().__init__(k)
        self.gain = gain

    def _score(self, ranked, rel):
        return ndcg_at_k(ranked, rel, self.k, self.gain)
