"""Retrieval evaluation on a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

Follows BEIR/MTEB: each document is embedded whole as `title + " " + text` (the model truncates
what it cannot read), queries with the embedder's query convention, ranking by cosine over the
whole corpus. `exact` ranks by brute force (as MTEB does); otherwise through a Chroma HNSW index.
Corpus embeddings go through the embedder's disk cache, so a second run embeds nothing.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from promptkit.embedders.base import Embedder
from promptkit.errors import ConfigError, UserError
from promptkit.retrieval.ir_metrics import hit_at_k as hit
from promptkit.retrieval.ir_metrics import ndcg_at_k as ndcg
from promptkit.retrieval.ir_metrics import recall_at_k as recall
from promptkit.retrieval.ir_metrics import reciprocal_rank as mrr
from promptkit.safeparse import loads_json

EMBED_BATCH = 256   # documents per embedder call (progress granularity; the model batches inside)


@dataclass
class BeirSet:
    folder: Path
    split: str
    queries: dict[str, str]                 # only the queries judged in this split
    qrels: dict[str, dict[str, float]]      # query id -> {doc id: grade > 0}
    # Every judgment as written, zero and negative grades included, and the text of every
    # judged query (the harness keeps them all).
    graded: dict[str, dict[str, float]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def corpus(self) -> Path:
        return self.folder / "corpus.jsonl"


class Problems:
    """Where a BEIR folder's bad lines go: raised at the first one (strict, the retrieval
    benchmark) or collected as (path, line, reason) and skipped (the evaluation harness, whose
    `on_bad_lines` decides what to do with them)."""

    def __init__(self, collect: bool):
        self.collect, self.found = collect, []

    def __call__(self, reason: str, *, path: Path, line: int | None = None,
                 field: str | None = None) -> None:
        if not self.collect:
            raise ConfigError(reason, path=str(path), line=line, field=field)
        self.found.append((str(path), line, reason))


def load(folder: str | Path, split: str = "test", *, problems: Problems | None = None,
         corpus: bool = True) -> BeirSet:
    """The judged queries of `split` and their judgments; the one BEIR reader.

    A missing folder, file or split is always an error (`corpus=False`: the folder need not
    hold corpus.jsonl, as when only the questions are evaluated); a bad line raises unless
    `problems` collects it. `qrels` keeps the positive judgments of the queries that have one
    (what ranking metrics use); `graded` every judgment of every judged query.
    """
    problem = problems or Problems(collect=False)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(f"BEIR folder {folder} does not exist",
                        hint="Point --beir at a folder with corpus.jsonl, queries.jsonl, qrels/.")
    for name in ("corpus.jsonl", "queries.jsonl")[0 if corpus else 1:]:
        if not (folder / name).is_file():
            raise UserError(f"{folder / name} is missing; a BEIR folder holds corpus.jsonl, "
                            "queries.jsonl and qrels/<split>.tsv")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise UserError(f"no qrels for split '{split}' ({qrels_path} is missing)",
                        hint=f"Splits found: {', '.join(have) or 'none'}; pass --split NAME.")
    graded = _read_qrels(qrels_path, problem)
    queries: dict[str, str] = {}
    for lineno, rec in _jsonl(folder / "queries.jsonl", problem):
        qid = str(rec.get("_id", ""))
        if qid in graded:
            if not isinstance(rec.get("text"), str):
                problem("query has no 'text'", path=folder / "queries.jsonl", line=lineno,
                        field="text")
                continue
            queries[qid] = rec["text"]
    positive = {q: {d: g for d, g in rel.items() if g > 0} for q, rel in graded.items()}
    missing = sorted(q for q in set(graded) - set(queries) if positive[q])
    if missing and not problem.collect:
        raise ConfigError(f"{len(missing)} judged queries are not in queries.jsonl "
                          f"(first: {missing[0]})", path=str(qrels_path))
    for qid in sorted(set(graded) - set(queries)):
        if positive[qid]:
            problem(f"query '{qid}' has judgments but no text", path=qrels_path)
        del graded[qid]
    qrels = {q: rel for q, rel in positive.items() if q in graded and rel}
    return BeirSet(folder, split, {q: queries[q] for q in qrels}, qrels, graded, queries)


def _jsonl(path: Path, problem: Problems | None = None) -> Iterator[tuple[int, dict]]:
    problem = problem or Problems(collect=False)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = loads_json(line)
            except json.JSONDecodeError as exc:
                problem(f"invalid JSON: {exc.msg}", path=path, line=lineno)
                continue
            if not isinstance(rec, dict):
                problem("each line must be a JSON object", path=path, line=lineno)
                continue
            yield lineno, rec


def _read_qrels(path: Path, problem: Problems) -> dict[str, dict[str, float]]:
    qrels: dict[str, dict[str, float]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or (lineno == 1 and row[0] == "query-id"):
                continue
            if len(row) < 3:
                problem("expected query-id<TAB>corpus-id<TAB>score", path=path, line=lineno)
                continue
            try:
                grade = float(row[2])
            except ValueError:
                grade = math.nan
            if not math.isfinite(grade):
                problem(f"score '{row[2]}' is not a number", path=path, line=lineno,
                        field="score")
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(grade) if grade.is_integer() else grade
    return qrels


def iter_corpus(path: Path) -> Iterator[tuple[str, str]]:
    """(doc id, "title text") per line, streamed; an id given twice is an error (a ranking
    would hold the document twice and score it twice)."""
    seen: dict[str, int] = {}
    for lineno, rec in _jsonl(path):
        if "_id" not in rec:
            raise ConfigError("document has no '_id'", path=str(path), line=lineno, field="_id")
        doc_id = str(rec["_id"])
        if doc_id in seen:
            raise ConfigError(f"document id '{doc_id}' was already used on line {seen[doc_id]}",
                              path=str(path), line=lineno, field="_id",
                              hint="Each document of a BEIR corpus needs its own _id.")
        seen[doc_id] = lineno
        text = f"{rec.get('title') or ''} {rec.get('text') or ''}".strip()
        yield doc_id, text


def embed_corpus(embedder: Embedder, path: Path,
                 progress: Callable[[int], None] | None = None) -> tuple[list[str], np.ndarray]:
    """All document ids and an (n, dim) matrix of their embeddings, read in batches."""
    ids: list[str] = []
    parts: list[np.ndarray] = []
    batch_ids, batch_texts = [], []

    def flush() -> None:
        if batch_texts:
            parts.append(embedder.embed_documents(batch_texts))
            ids.extend(batch_ids)
            batch_ids.clear()
            batch_texts.clear()
            if progress:
                progress(len(ids))

    for doc_id, text in iter_corpus(path):
        batch_ids.append(doc_id)
        batch_texts.append(text)
        if len(batch_texts) >= EMBED_BATCH:
            flush()
    flush()
    return ids, (np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32))


def embed_queries(embedder: Embedder, texts: list[str]) -> np.ndarray:
    # The base class offers one query at a time; a batch through _embed is the same call.
    return embedder._embed(texts, "query") if texts else np.zeros((0, embedder.dim), np.float32)


def rank_exact(q: np.ndarray, docs: np.ndarray, depth: int) -> np.ndarray:
    """Indices of the `depth` most similar documents per query, best first."""
    sims = q @ docs.T
    depth = min(depth, docs.shape[0])
    top = np.argpartition(-sims, depth - 1, axis=1)[:, :depth]
    order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def rank_hnsw(q: np.ndarray, ids: list[str], docs: np.ndarray, depth: int) -> list[list[str]]:
    """The same ranking through a throwaway Chroma collection (HNSW, cosine space)."""
    import chromadb
    from chromadb.config import Settings

    with tempfile.TemporaryDirectory(prefix="pk-beir-") as tmp:
        client = chromadb.PersistentClient(path=tmp, settings=Settings(anonymized_telemetry=False))
        col = client.create_collection("beir", configuration={"hnsw": {"space": "cosine"}},
                                       embedding_function=None)
        step = client.get_max_batch_size()
        for i in range(0, len(ids), step):
            col.add(ids=ids[i:i + step], embeddings=docs[i:i + step])
        got = col.query(query_embeddings=q, n_results=min(depth, len(ids)), include=[])
        return [list(r) for r in got["ids"]]


def score(runs: dict[str, list[str]], qrels: dict[str, dict[str, float]], k: int) -> dict:
    """Mean of each metric over the judged queries, in percent (as BEIR/MTEB report them)."""
    metrics = {"ndcg@10": (ndcg, 10), f"recall@{k}": (recall, k), "mrr@10": (mrr, 10),
               f"hit@{k}": (hit, k)}   # the shared definitions (retrieval/ir_metrics.py)
    out = {}
    for name, (fn, cut) in metrics.items():
        vals = [fn(runs.get(qid, []), rel, cut) for qid, rel in qrels.items()]
        out[name] = 100.0 * sum(vals) / len(vals) if vals else 0.0
    return out


def evaluate(folder: str | Path, embedder: Embedder, *, split: str = "test", k: int = 10,
             exact: bool = True, progress: Callable[[int], None] | None = None,
             data=None, rankings: dict[str, list[str]] | None = None) -> dict:
    """Embed, rank and score; a dict of metrics (percent) and run facts. `data`: the folder
    already read by `load` (it is read here otherwise). `rankings`, when given, receives each
    judged query's ranked document ids (the top max(k, 10)), for a caller that keeps them."""
    if k < 1:
        raise UserError(f"-k must be at least 1 (got {k})")
    data = data if data is not None else load(folder, split)
    if not data.qrels:
        raise UserError(f"no query in qrels/{split}.tsv has a relevant document (a score above "
                        "0), so there is nothing to rank", hint="Check the split's judgments.")
    t0 = time.perf_counter()
    ids, docs = embed_corpus(embedder, data.corpus, progress)
    embed_s = time.perf_counter() - t0
    qids = list(data.queries)
    q = embed_queries(embedder, [data.queries[i] for i in qids])
    depth = max(k, 10)
    t1 = time.perf_counter()
    if exact:
        ranked = rank_exact(q, docs, depth)
        runs = {qid: [ids[j] for j in row] for qid, row in zip(qids, ranked, strict=True)}
    else:
        runs = dict(zip(qids, rank_hnsw(q, ids, docs, depth), strict=True))
    search_s = time.perf_counter() - t1
    if rankings is not None:
        rankings.update(runs)
    return {"dataset": data.folder.name, "split": split, "embedder": embedder.name,
            "search": "exact" if exact else "hnsw", "k": k, "queries": len(qids),
            "documents": len(ids), **score(runs, data.qrels, k),
            "embed_seconds": round(embed_s, 2), "search_seconds": round(search_s, 3)}
