"""Ranking metrics over one query: hit@k, recall@k, reciprocal rank@k and nDCG@k.

`ranked` is the retrieved ids in rank order (each id once); `rel` maps relevant ids to their
grade (> 0). Binary hits, graded gains for nDCG with the log2(rank + 1) discount, as
trec_eval and BEIR compute them. The harness's metrics (`evaluation.metrics_retrieval`) and
`promptkit eval retrieval` (`retrieval.beir`) both score with these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def hit_at_k(ranked: Sequence[str], rel: Mapping[str, float], k: int) -> float:
    return float(any(doc in rel for doc in ranked[:k]))


def recall_at_k(ranked: Sequence[str], rel: Mapping[str, float], k: int) -> float:
    return sum(doc in rel for doc in ranked[:k]) / len(rel) if rel else 0.0


def reciprocal_rank(ranked: Sequence[str], rel: Mapping[str, float], k: int) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in rel:
            return 1.0 / rank
    return 0.0


def _dcg(gains: Sequence[float]) -> float:
    # Rank i (1-based) is discounted by log2(i + 1).
    return math.fsum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], rel: Mapping[str, float], k: int,
              gain: str = "linear") -> float:
    """nDCG@k; linear gain (grade) as trec_eval/BEIR, or exponential (2**grade - 1)."""
    to_gain = (lambda g: g) if gain == "linear" else (lambda g: 2.0 ** g - 1.0)
    dcg = _dcg([to_gain(rel.get(doc, 0.0)) for doc in ranked[:k]])
    ideal = _dcg([to_gain(g) for g in sorted(rel.values(), reverse=True)[:k]])
    return dcg / ideal if ideal > 0 else 0.0
