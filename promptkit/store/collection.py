"""A promptkit collection: one Chroma collection plus the embedder and chunking that built it.

Chroma is always handed precomputed embeddings (never an embedding function): without one it
would try to download an ONNX model at the first add or query, which fails offline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from promptkit.embedders import DEFAULT, get_embedder
from promptkit.embedders.base import Embedder
from promptkit.errors import BackendUnavailable, NotFoundError, UserError
from promptkit.retrieval import ranking
from promptkit.retrieval.hits import Hit
from promptkit.store import freshness
from promptkit.store.client import Location, client_epoch, client_for, resolve
from promptkit.store.freshness import META_GENERATION

META_EMBEDDER = "promptkit:embedder"
META_DIM = "promptkit:dim"
META_CHUNK_TOKENS = "promptkit:chunk_tokens"
META_OVERLAP = "promptkit:overlap"

PAGE = 2000          # rows per Chroma get() when scanning a collection
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


def check_name(name: str) -> None:
    if not _NAME.match(name or "") or ".." in name:
        raise UserError(f"invalid collection name '{name}'",
                        hint="Use 3-512 characters from letters, digits, '.', '_' and '-', "
                             "starting and ending with a letter or digit.")


@contextmanager
def backend_errors(location: Location) -> Iterator[None]:
    """A Chroma server that stops answering becomes a BackendUnavailable naming its URL."""
    if not location.url:
        yield
        return
    import httpx

    try:
        yield
    except (httpx.HTTPError, ConnectionError) as exc:
        raise BackendUnavailable(f"lost the Chroma server at {location.url}: {exc}",
                                 backend="chroma") from exc


class Collection:
    """Ingest into, search and inspect one collection."""

    def __init__(self, chroma_collection, location: Location, embedder: str | Embedder | None):
        self._handle = chroma_collection
        self._epoch = client_epoch()
        self.name: str = chroma_collection.name
        self.location = location
        freshness.remember(location, chroma_collection)
        self._embedder_spec = embedder or self.recorded.get(META_EMBEDDER) or DEFAULT
        self._embedder: Embedder | None = None

    @property
    def _col(self):
        """The chromadb handle, re-got when this process replaced its client (see freshness)."""
        if self._epoch != client_epoch():
            self._epoch = client_epoch()
            self._handle = client_for(self.location).get_collection(self.name,
                                                                    embedding_function=None)
        return self._handle

    def refresh(self) -> None:
        """Catch up with what other processes wrote (metadata, and an embedded store's index)."""
        with backend_errors(self.location):
            handle = freshness.fresh_handle(self.location, self.name)
        self._handle, self._epoch = handle, client_epoch()

    # -- what the collection records ---------------------------------------------------------
    @property
    def recorded(self) -> dict:
        return dict(self._col.metadata or {})

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self._embedder_spec)
        return self._embedder

    @property
    def chroma(self):
        """The underlying chromadb Collection (for advanced use; keep embeddings precomputed)."""
        return self._col

    def chunk_settings(self) -> tuple[int | None, int | None]:
        meta = self.recorded
        return meta.get(META_CHUNK_TOKENS), meta.get(META_OVERLAP)

    def update_recorded(self, **changes) -> None:
        meta = {**self.recorded, **changes}
        with backend_errors(self.location):
            self._col.modify(metadata=meta)

    def count(self) -> int:
        with backend_errors(self.location):
            return self._col.count()

    def info(self) -> dict:
        self.refresh()
        meta = self.recorded
        with backend_errors(self.location):
            files = len(self._col.get(where={"file_chunks": {"$gte": 0}}, include=[])["ids"])
        return {"name": self.name, "location": str(self.location),
                "embedder": meta.get(META_EMBEDDER), "dim": meta.get(META_DIM),
                "chunk_tokens": meta.get(META_CHUNK_TOKENS), "overlap": meta.get(META_OVERLAP),
                "chunks": self.count(), "files": files, "generation": meta.get(META_GENERATION, 0)}

    def delete(self) -> None:
        from promptkit.store import bm25_index

        with backend_errors(self.location):
            client_for(self.location).delete_collection(self.name)
        bm25_index.forget(self.location.key, str(self._col.id))

    def ingest(self, paths: Sequence[str | Path], *, chunk_tokens: int | None = None,
               overlap: int | None = None, include: Sequence[str] = (),
               exclude: Sequence[str] = (), strict: bool = False,
               progress: Callable | None = None):
        """Add new and changed files, drop chunks of changed and deleted ones; an IngestReport."""
        from promptkit.store import bm25_index
        from promptkit.store.ingest import ingest

        report = ingest(self, paths, chunk_tokens=chunk_tokens, overlap=overlap,
                        include=include, exclude=exclude, strict=strict, progress=progress)
        # A BM25 index already in use follows the collection now, so the next hybrid query
        # (in any process) finds it current; one never used is built by the first such query.
        if report.changed and bm25_index.index_path(self.location.key,
                                                    str(self._col.id)).is_file():
            self._bm25()
        return report

    # -- reading -----------------------------------------------------------------------------
    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Hits for `ids`, in the order asked (unknown ids are left out); score is 0."""
        if not ids:
            return []
        with backend_errors(self.location):
            got = self._col.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = dict(zip(got["ids"], zip(got["documents"], got["metadatas"], strict=True),
                         strict=True))
        hits = []
        for i in ids:
            if i in by_id:
                text, meta = by_id[i]
                hits.append(_hit(i, text, meta or {}, 0.0, len(hits) + 1))
        return hits

    def iter_rows(self, include: Sequence[str] = ("metadatas",), where: dict | None = None):
        """Every row, a page at a time: (ids, documents, metadatas, embeddings) per page."""
        offset = 0
        while True:
            with backend_errors(self.location):
                got = self._col.get(include=list(include), where=where, limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            yield got
            offset += len(got["ids"])

    # -- search --------------------------------------------------------------------------------
    def search(self, query: str, k: int = 4, *, mmr: bool = False, hybrid: bool = False,
               where: dict | None = None, min_score: float | None = None, exact: bool = False,
               fetch_k: int | None = None, mmr_lambda: float = 0.5,
               dedupe: bool = False) -> list[Hit]:
        """Top-`k` chunks for `query` (docs/tasks/documents.md, "Search", describes the modes).

        `dedupe` keeps only the best of chunks with the same text (the same passage stored
        under several file names would otherwise fill several of the k places).
        """
        _check_search(query, k, mmr_lambda, min_score, where)
        if self.location.url is None:   # a server is never stale: spare it a request per search
            self.refresh()
        if self.count() == 0:
            return []
        qv = self.embedder.embed_query(query)
        pool = max(fetch_k or 0, k, 4 * k, 20) if (mmr or hybrid or dedupe) else k

        def candidates() -> tuple[list[tuple], dict[str, float]]:
            cands = self._dense(qv, pool, where, exact, with_vectors=mmr)
            scores = {c[0]: c[1] for c in cands}   # cosine similarity by id
            if hybrid:
                cands, scores = self._fuse(query, qv, cands, pool, where)
            return cands, scores

        with backend_errors(self.location), _refused_filter(where):
            cands, scores = freshness.retry_if_stale(self.location, self.name, candidates)
        if min_score is not None:
            cands = [c for c in cands if c[1] >= min_score]
        if dedupe:
            cands = _unique_texts(cands)
        if not cands:
            return []
        if mmr:
            vecs = np.stack([c[4] for c in cands]).astype(np.float32)
            rel = np.array([scores[c[0]] for c in cands], dtype=np.float32)
            if hybrid:   # fused scores are tiny; scale them to [0, 1] to weigh against similarity
                rel = rel / rel.max()
            order = ranking.mmr(qv, vecs, k, mmr_lambda, relevance=rel)
        else:
            order = range(min(k, len(cands)))
        return [_hit(cands[i][0], cands[i][2], cands[i][3], scores[cands[i][0]], rank, cands[i][1])
                for rank, i in enumerate(order, start=1)]

    def _dense(self, qv: np.ndarray, n: int, where: dict | None, exact: bool,
               with_vectors: bool = False) -> list[tuple]:
        """(id, similarity, text, metadata, embedding or None) best first, HNSW or brute force."""
        if exact:
            return self._exact(qv, n, where)
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if with_vectors else [])
        got = self._col.query(query_embeddings=[qv], n_results=n, where=where, include=include)
        embs = got["embeddings"][0] if with_vectors else [None] * len(got["ids"][0])
        # Cosine space: distance = 1 - cosine similarity.
        return [(i, 1.0 - float(d), t, m or {}, e) for i, d, t, m, e in zip(
            got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0], embs,
            strict=True)]

    def _exact(self, qv: np.ndarray, n: int, where: dict | None) -> list[tuple]:
        best: list[tuple] = []
        for page in self.iter_rows(("documents", "metadatas", "embeddings"), where):
            vecs = np.asarray(page["embeddings"], dtype=np.float32)
            sims = vecs @ qv
            for j in np.argsort(-sims)[:n]:
                best.append((page["ids"][j], float(sims[j]), page["documents"][j],
                             page["metadatas"][j] or {}, vecs[j]))
            best = sorted(best, key=lambda c: -c[1])[:n]
        return best

    def _fuse(self, query: str, qv: np.ndarray, dense: list[tuple], n: int,
              where: dict | None) -> tuple[list[tuple], dict[str, float]]:
        allowed = None
        if where:
            allowed = {i for page in self.iter_rows((), where) for i in page["ids"]}
        lexical = self._bm25().top(query, n, allowed)
        fused = ranking.rrf([[c[0] for c in dense], [i for i, _ in lexical]])[:n]
        known = {c[0]: c for c in dense}
        missing = [i for i, _ in fused if i not in known]
        if missing:
            got = self._col.get(ids=missing, include=["documents", "metadatas", "embeddings"])
            for i, t, m, e in zip(got["ids"], got["documents"], got["metadatas"],
                                  got["embeddings"], strict=True):
                e = np.asarray(e, dtype=np.float32)
                known[i] = (i, float(e @ qv), t, m or {}, e)
        return [known[i] for i, _ in fused if i in known], dict(fused)

    def _bm25(self):
        """This collection's persistent BM25 index, synced with its current contents."""
        from promptkit.store import bm25_index

        fresh = client_for(self.location).get_collection(self.name, embedding_function=None)
        stamp = f"{fresh.count()}:{(fresh.metadata or {}).get(META_GENERATION, 0)}"
        index = bm25_index.store_for(self.location.key, str(fresh.id))
        index.sync(self, stamp)
        return index


def _check_search(query: str, k: int, mmr_lambda: float, min_score: float | None,
                  where: dict | None) -> None:
    if not query or not query.strip():
        raise UserError("the search query is empty")
    if k < 1:
        raise UserError(f"-k must be at least 1 (got {k})")
    if not 0.0 <= mmr_lambda <= 1.0:
        raise UserError(f"mmr_lambda must be between 0 and 1 (got {mmr_lambda})")
    if min_score is not None and not math.isfinite(min_score):
        raise UserError(f"--min-score must be a number (got {min_score}); hits whose cosine "
                        "similarity is below it are dropped",
                        hint="Use a value between -1 and 1, e.g. --min-score 0.3.")
    if where:
        check_where(where)


_WHERE_HINT = ('Use Chroma\'s filter syntax: {"lang": "es"}, {"page": {"$gte": 3}}, '
               '{"$and": [{"lang": "es"}, {"page": {"$lt": 9}}]}; operators: $eq $ne $gt $gte '
               "$lt $lte $in $nin, combined with $and / $or.")


def check_where(where: dict) -> None:
    """A metadata filter checked before it reaches Chroma, whose own refusal of a bad one is a
    bare "Invalid where clause" (or an InternalError) without saying what is wrong."""
    from chromadb.api.types import validate_where

    _check_where_keys(where)
    try:
        validate_where(where)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--where is not a valid metadata filter: {exc}",
                        hint=_WHERE_HINT) from None


@contextmanager
def _refused_filter(where: dict | None) -> Iterator[None]:
    """What check_where could not foresee: Chroma's engine refusing the filter."""
    from chromadb.errors import InvalidArgumentError

    try:
        yield
    except InvalidArgumentError as exc:
        if not where:
            raise
        raise UserError(f"Chroma refused the --where filter {where}: {exc}",
                        hint=_WHERE_HINT) from None


def _check_where_keys(where: dict) -> None:
    # Chroma's Python check takes {"$bogus": 1} for a field named "$bogus"; its engine refuses it.
    for key, value in where.items():
        if key in ("$and", "$or"):
            for part in value if isinstance(value, list) else ():
                if isinstance(part, dict):
                    _check_where_keys(part)
        elif str(key).startswith("$"):
            raise UserError(f"--where: '{key}' is not a field name or a way to combine "
                            "filters (only $and and $or combine them)", hint=_WHERE_HINT)


def _unique_texts(cands: list[tuple]) -> list[tuple]:
    """Candidates best first, each text (whitespace-normalised) kept once."""
    seen: set[str] = set()
    out = []
    for c in cands:
        key = " ".join((c[2] or "").split())
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _hit(id_: str, text: str, meta: dict, score: float, rank: int,
         similarity: float | None = None) -> Hit:
    # The ingest's completion marker is bookkeeping, not something a reader needs.
    meta = {k: v for k, v in meta.items() if k not in ("file_hash", "file_chunks")}
    if similarity is not None:
        meta["similarity"] = similarity
    return Hit(id=id_, text=text or "", source=str(meta.get("source", "")), score=float(score),
               rank=rank, metadata=meta)


def _get_existing(client, name: str):
    from chromadb.errors import NotFoundError as ChromaNotFound

    try:
        return client.get_collection(name, embedding_function=None)
    except ChromaNotFound:
        return None


def _check_embedder(col, location: Location, embedder: str | Embedder | None) -> None:
    meta = col.metadata or {}
    recorded = meta.get(META_EMBEDDER)
    if recorded is None:
        raise UserError(f"collection '{col.name}' in {location} was not made by promptkit "
                        "(it records no embedder)",
                        hint="Ingest into another --collection name.")
    if embedder is None:
        return
    wanted = get_embedder(embedder)
    if wanted.name != recorded or (meta.get(META_DIM) not in (None, wanted.dim)):
        raise UserError(
            f"collection '{col.name}' was built with embedder '{recorded}' "
            f"({meta.get(META_DIM)}-dim); searching or adding with '{wanted.name}' would mix "
            "incomparable vectors",
            hint=f"Use --embedder {recorded}, choose another --collection, or delete it with "
                 f"`promptkit collections delete {col.name}`.")


def open_collection(name: str = "demo", *, embedder: str | Embedder | None = None,
                    chroma_url: str | None = None, create: bool = True) -> Collection:
    """Open (or create) collection `name` in the embedded store or the server at `chroma_url`."""
    check_name(name)
    location = resolve(chroma_url)
    client = client_for(location)
    with backend_errors(location):
        col = _get_existing(client, name)
        if col is None:
            if not create:
                raise NotFoundError("collection", name, [c.name for c in client.list_collections()],
                                    hint="Create it with `promptkit ingest PATH "
                                         f"--collection {name}`.")
            emb = get_embedder(embedder or DEFAULT)
            col = client.get_or_create_collection(
                name, metadata={META_EMBEDDER: emb.name, META_DIM: emb.dim, META_GENERATION: 0},
                configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
        _check_embedder(col, location, embedder)
    return Collection(col, location, embedder)


def list_collections(chroma_url: str | None = None) -> list[dict]:
    """Name, embedder, dim and chunk count of every collection in the store."""
    location = resolve(chroma_url)
    client = client_for(location)
    out = []
    with backend_errors(location):
        for col in sorted(client.list_collections(), key=lambda c: c.name):
            meta = col.metadata or {}
            out.append({"name": col.name, "embedder": meta.get(META_EMBEDDER),
                        "dim": meta.get(META_DIM), "chunks": col.count()})
    return out
