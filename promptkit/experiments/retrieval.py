"""Ranked passages per question, computed once per experiment and shared by its cells.

Two sources: `pool` ranks each case's own passages (LITM's 20) by cosine similarity with an
embedder (each distinct passage embedded once, and the embedder's disk cache keeps it across
runs); `collection` searches a Chroma collection. The ranking is saved in the run folder, so a
resumed run and every cell (each k, each ordering) read the same list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from promptkit.errors import ConfigError, UserError
from promptkit.evaluation.datasets import Case
from promptkit.experiments.cells import Context
from promptkit.experiments.data import has_answer, passage

RANKINGS = "retrieval.json"

Search = Callable[[str, int], list[dict]]


def collection_retriever(cfg) -> Search:
    """question, k -> passage dicts (best first) from the configured Chroma collection."""
    if not cfg.retrieval.collection:
        raise ConfigError("retrieval.source is 'collection' but no collection is named",
                          path=cfg.source, field="retrieval.collection",
                          hint="Name one built with `promptkit ingest PATH --collection NAME`.")
    from promptkit.store import open_collection

    coll = open_collection(cfg.retrieval.collection, create=False)

    def search(question: str, k: int) -> list[dict]:
        # `doc` keeps the file a chunk came from: document-level gold is matched on it.
        return [{"id": h.id, "text": h.text, "source": h.title or Path(h.source).name,
                 "doc": h.source, "score": h.score, "rank": h.rank}
                for h in coll.search(question, k=k)]

    return search


def rank_pools(cases: list[Case], embedder_name: str, k: int) -> dict[str, list[dict]]:
    """Each case's own passages, best `k` first, by cosine similarity to its question."""
    import numpy as np

    from promptkit.embedders import get_embedder

    emb = get_embedder(embedder_name)
    texts = list(dict.fromkeys(c["text"] for case in cases for c in case.contexts or []))
    index = {t: i for i, t in enumerate(texts)}
    vectors = emb.embed_documents(texts)   # every distinct passage once
    out = {}
    for case in cases:
        ctxs = case.contexts or []
        q = emb.embed_query(case.question)
        scores = np.array([float(vectors[index[c["text"]]] @ q) for c in ctxs])
        order = sorted(range(len(ctxs)), key=lambda i: (-scores[i], i))[:k]
        out[case.id] = [passage(ctxs[i], score=round(float(scores[i]), 6), rank=r)
                        for r, i in enumerate(order, start=1)]
    return out


def ranked_passages(ctx: Context, cases: list[Case], k: int, truncate) -> dict[str, list[dict]]:
    """Case id -> its top-`k` passages (cut by `truncate`), read from the run folder if saved."""
    path = ctx.run_dir / RANKINGS
    r = ctx.cfg.retrieval
    key = {"source": r.source, "embedder": r.embedder, "collection": r.collection, "k": k,
           "passage_tokens": ctx.cfg.data.passage_tokens}
    fetch = k
    if r.rerank:
        from promptkit.retrieval.rerank import check_candidates

        fetch = check_candidates(k, r.rerank_candidates)
        key.update(rerank=r.rerank, rerank_candidates=fetch)
    saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if saved.get("key") != key:
        saved = {"key": key, "cases": {}}
    todo = [c for c in cases if c.id not in saved["cases"]]
    if todo:
        if r.source == "collection":
            search = collection_retriever(ctx.cfg)
            found = {c.id: search(c.question, fetch) for c in todo}
        else:
            missing = [c.id for c in todo if not c.contexts]
            if missing:
                raise UserError(f"retrieval.source 'pool' ranks each case's own passages, but "
                                f"{len(missing)} case(s) have none (first: {missing[0]})",
                                hint="Use a dataset with contexts (e.g. a LITM file), or "
                                     "retrieval.source: collection.")
            found = rank_pools(todo, r.embedder, fetch)
        if r.rerank:
            found = rerank_found(r.rerank, {c.id: c.question for c in todo}, found, k)
        for case_id, hits in found.items():
            saved["cases"][case_id] = [dict(h, text=truncate(h["text"])) for h in hits]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    return {c.id: saved["cases"][c.id] for c in cases}


def rerank_found(spec: str, questions: dict[str, str], found: dict[str, list[dict]],
                 k: int) -> dict[str, list[dict]]:
    """Each case's candidates reordered by the reranker, best `k` kept (first-stage rank kept)."""
    from promptkit.retrieval.rerank import get_reranker

    reranker = get_reranker(spec)
    out = {}
    for case_id, hits in found.items():
        order = reranker.rank(questions[case_id], [h["text"] for h in hits], k)
        out[case_id] = [dict(hits[i], score=round(score, 6), rank=rank,
                             retrieval_score=hits[i].get("score"),
                             retrieval_rank=hits[i].get("rank"))
                        for rank, (i, score) in enumerate(order, start=1)]
    return out


def has_gold_info(case: Case) -> bool:
    return bool(case.gold_ids or case.metadata.get("gold_docs"))


def is_gold(case: Case, p: dict) -> bool:
    """Whether passage `p` is gold for `case`: by chunk id, or by file name (doc-level gold)."""
    if p["id"] in case.gold_ids:
        return True
    names = set(case.metadata.get("gold_docs") or [])
    if case.metadata.get("gold_level") == "doc":
        names |= set(case.gold_ids)
    doc = p.get("doc") or p.get("source") or ""
    return bool(names) and Path(str(doc)).name in names


def relevant_ranks(case: Case, ranked: list[dict]) -> dict:
    """1-based rank of the first gold passage and of the first answer-bearing one (None: absent)."""
    gold_rank = next((i for i, p in enumerate(ranked, start=1) if is_gold(case, p)), None)
    answer_rank = next((i for i, p in enumerate(ranked, start=1)
                        if has_answer(p["text"], case.answers)), None)
    return {"gold": gold_rank, "answer": answer_rank}


def usable_cases(ctx: Context, cases: list[Case]) -> tuple[list[Case], dict]:
    """Cases with answers to score (and passages, for a pool), up to the limit."""
    need_contexts = ctx.cfg.retrieval.source == "pool"
    kept, skipped = [], {"without answers": 0, "without passages": 0}
    for case in cases:
        if ctx.limit is not None and len(kept) >= ctx.limit:
            break
        if not case.answers:
            skipped["without answers"] += 1
        elif need_contexts and not case.contexts:
            skipped["without passages"] += 1
        else:
            kept.append(case)
    return kept, {k: v for k, v in skipped.items() if v}
