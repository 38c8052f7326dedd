"""Re-ranking over candidate lists: maximal marginal relevance and reciprocal-rank fusion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60   # the constant of Cormack et al. (2009); damps the weight of the very top ranks


def mmr(query: np.ndarray, candidates: np.ndarray, k: int, lambda_: float = 0.5,
        relevance: np.ndarray | None = None) -> list[int]:
    """Indices of `k` candidates chosen greedily for relevance minus redundancy.

    Vectors are normalised, so dot products are cosine similarities. `relevance` overrides
    the query similarity (hybrid search passes its fused scores).
    """
    if len(candidates) == 0 or k <= 0:
        return []
    rel = candidates @ query if relevance is None else np.asarray(relevance, dtype=np.float32)
    chosen: list[int] = [int(np.argmax(rel))]
    max_sim_to_chosen = candidates @ candidates[chosen[0]]
    while len(chosen) < min(k, len(candidates)):
        score = lambda_ * rel - (1.0 - lambda_) * max_sim_to_chosen
        score[chosen] = -np.inf
        nxt = int(np.argmax(score))
        chosen.append(nxt)
        max_sim_to_chosen = np.maximum(max_sim_to_chosen, candidates @ candidates[nxt])
    return chosen


def rrf(rankings: Sequence[Sequence[str]], k0: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k0 + rank), best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k0 + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
