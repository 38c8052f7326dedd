"""Retrieval: hits, ranking (MMR, reciprocal-rank fusion), BM25, and BEIR evaluation."""

from promptkit.retrieval.hits import Hit

__all__ = ["Hit"]
