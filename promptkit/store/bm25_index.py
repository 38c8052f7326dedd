"""A collection's BM25 index, kept on disk (SQLite) and brought up to date incrementally.

Hybrid search used to rebuild BM25 from every chunk of the collection on the first hybrid
query of each process: a full scan of the store per process. The index now lives in
`$PROMPTKIT_HOME/bm25/<store>/<collection id>.sqlite3` and is synced with the collection by
difference of ids whenever the collection's stamp (chunk count + ingest generation) changed:
only added chunks are read and tokenized, removed ones are dropped. A query reads the postings
of its own terms and nothing else, so a fresh process pays no build.

Why SQLite and not `bm25s`: bm25s keeps a precomputed sparse score matrix that has to be rebuilt
from every document after any change; the postings here take one row per (term, chunk), change
a document at a time, and several processes (or threads) can read and sync one file safely.
The index is keyed by Chroma's collection id, so a collection deleted and made again under the
same name never meets the old file; works the same for the embedded store and a server.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from promptkit import paths
from promptkit.retrieval import bm25

SCHEMA_VERSION = "1"
BATCH = 2000            # chunks read from Chroma (and written here) per step
_CANDIDATES = 256       # ids looked up at a time while filtering the best scores

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS terms (tid INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE,
                                  df INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS docs (did INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                                 len INTEGER NOT NULL, tids BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS postings (tid INTEGER NOT NULL, did INTEGER NOT NULL,
                                     tf INTEGER NOT NULL, dl INTEGER NOT NULL,
                                     PRIMARY KEY (tid, did)) WITHOUT ROWID;
"""


def index_path(location_key: str, collection_id: str) -> Path:
    """Where the index of one collection (by Chroma id) of one store lives."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", location_key).strip("-")[-40:] or "store"
    digest = hashlib.sha256(location_key.encode()).hexdigest()[:10]
    return paths.home() / "bm25" / f"{slug}-{digest}" / f"{collection_id}.sqlite3"


class BM25Store:
    """The on-disk BM25 index of one collection."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._stats: tuple[str, int, float] | None = None   # (stamp, n_docs, avgdl)
        self.last_sync: dict | None = None   # what the last sync of this process changed

    # -- connection ----------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) for writes.
            db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            db.executescript(_SCHEMA)
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _meta(self, key: str, default: str = "") -> str:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, **values) -> None:
        self._db().executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [(k, str(v)) for k, v in values.items()])

    @staticmethod
    def _version() -> str:
        return f"{SCHEMA_VERSION}.{bm25.TOKENIZER_VERSION}"

    def stamp(self) -> str:
        """The collection state this index was last synced with ('' if never or outdated)."""
        return self._meta("stamp") if self._meta("version") == self._version() else ""

    # -- sync ----------------------------------------------------------------------------------
    def sync(self, collection, stamp: str) -> dict:
        """Bring the index to the collection's state `stamp`; what changed, as counts."""
        if self.stamp() == stamp:
            return {"added": 0, "removed": 0}
        self.last_sync = self._sync(collection, stamp)
        return self.last_sync

    def _sync(self, collection, stamp: str) -> dict:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")   # one writer; others wait, then find it already synced
        try:
            if self._meta("version") != self._version():
                # Built by another version of the tokenizer or schema: start again.
                for table in ("postings", "docs", "terms", "meta"):
                    db.execute(f"DELETE FROM {table}")
            elif self._meta("stamp") == stamp:
                db.execute("COMMIT")
                return {"added": 0, "removed": 0}
            changes = self._apply(collection)
            self._set_meta(version=self._version(), stamp=stamp)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._stats = None
        return changes

    def _apply(self, collection) -> dict:
        db = self._db()
        indexed = {row[0] for row in db.execute("SELECT id FROM docs")}
        vocab = dict(db.execute("SELECT term, tid FROM terms"))
        if not indexed:   # first build: one pass over the documents
            added = 0
            for page in collection.iter_rows(("documents",)):
                self._add(zip(page["ids"], page["documents"], strict=True), vocab)
                added += len(page["ids"])
            return {"added": added, "removed": 0}
        present = {i for page in collection.iter_rows(()) for i in page["ids"]}
        gone = sorted(indexed - present)
        new = sorted(present - indexed)
        self._remove(gone, vocab)
        for start in range(0, len(new), BATCH):
            got = collection.chroma.get(ids=new[start:start + BATCH], include=["documents"])
            self._add(zip(got["ids"], got["documents"], strict=True), vocab)
        return {"added": len(new), "removed": len(gone)}

    def _add(self, rows: Iterable[tuple[str, str]], vocab: dict[str, int]) -> None:
        """Index new chunks; `vocab` (term -> id) is the terms table, kept in step."""
        db = self._db()
        next_did = (db.execute("SELECT max(did) FROM docs").fetchone()[0] or 0) + 1
        next_tid = (db.execute("SELECT max(tid) FROM terms").fetchone()[0] or 0) + 1
        new_terms: list[tuple[int, str]] = []
        df_delta: Counter = Counter()
        docs, postings = [], []
        total = 0
        for did, (id_, text) in enumerate(rows, start=next_did):
            counts = Counter(bm25.tokenize(text or ""))
            length = sum(counts.values())
            tids = array("q")
            for term, tf in counts.items():
                tid = vocab.get(term)
                if tid is None:
                    tid = vocab[term] = next_tid
                    next_tid += 1
                    new_terms.append((tid, term))
                tids.append(tid)
                postings.append((tid, did, tf, length))
            docs.append((did, id_, length, tids.tobytes()))
            df_delta.update(tids)
            total += length
        db.executemany("INSERT INTO terms (tid, term, df) VALUES (?, ?, 0)", new_terms)
        db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", docs)
        postings.sort()   # in key order: SQLite appends to its B-tree instead of seeking
        db.executemany("INSERT INTO postings VALUES (?, ?, ?, ?)", postings)
        db.executemany("UPDATE terms SET df = df + ? WHERE tid = ?",
                       [(d, t) for t, d in df_delta.items()])
        self._bump_totals(len(docs), total)

    def _remove(self, ids: Sequence[str], vocab: dict[str, int]) -> None:
        db = self._db()
        n_removed = total = 0
        for id_ in ids:
            row = db.execute("SELECT did, len, tids FROM docs WHERE id = ?", (id_,)).fetchone()
            if row is None:
                continue
            did, length, blob = row
            tids = array("q", blob).tolist()
            db.executemany("DELETE FROM postings WHERE tid = ? AND did = ?",
                           [(t, did) for t in tids])
            db.executemany("UPDATE terms SET df = df - 1 WHERE tid = ?", [(t,) for t in tids])
            db.execute("DELETE FROM docs WHERE did = ?", (did,))
            n_removed += 1
            total += length
        if n_removed:
            for (term,) in db.execute("SELECT term FROM terms WHERE df <= 0").fetchall():
                vocab.pop(term, None)
            db.execute("DELETE FROM terms WHERE df <= 0")
            self._bump_totals(-n_removed, -total)

    def _bump_totals(self, n_docs: int, total_len: int) -> None:
        n = int(self._meta("n_docs", "0")) + n_docs
        t = int(self._meta("total_len", "0")) + total_len
        self._set_meta(n_docs=n, total_len=t)

    # -- query ---------------------------------------------------------------------------------
    def _corpus_stats(self) -> tuple[int, float]:
        stamp = self._meta("stamp")
        if self._stats is None or self._stats[0] != stamp:
            n = int(self._meta("n_docs", "0"))
            avgdl = int(self._meta("total_len", "0")) / n if n else 0.0
            self._stats = (stamp, n, avgdl)
        return self._stats[1], self._stats[2]

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(internal doc numbers, scores) of every chunk sharing a word with `query`."""
        qtf = Counter(bm25.tokenize(query))
        n, avgdl = self._corpus_stats()
        if not qtf or not n:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        db = self._db()
        marks = ",".join("?" * len(qtf))
        found = db.execute(f"SELECT tid, term, df FROM terms WHERE term IN ({marks})",
                           list(qtf)).fetchall()
        dids, parts = [], []
        for tid, term, df in found:
            rows = np.array(db.execute("SELECT did, tf, dl FROM postings WHERE tid = ?",
                                       (tid,)).fetchall(), dtype=np.float64).reshape(-1, 3)
            if not len(rows):
                continue
            dids.append(rows[:, 0].astype(np.int64))
            parts.append(qtf[term] * bm25.term_scores(bm25.idf(n, df), rows[:, 1], rows[:, 2],
                                                      avgdl))
        if not dids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        all_dids = np.concatenate(dids)
        unique, inverse = np.unique(all_dids, return_inverse=True)
        return unique, np.bincount(inverse, weights=np.concatenate(parts))

    def top(self, query: str, n: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Best `n` (chunk id, score), optionally only among `allowed` ids."""
        dids, scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")
        out: list[tuple[str, float]] = []
        db = self._db()
        for start in range(0, len(order), _CANDIDATES):
            picked = order[start:start + _CANDIDATES]
            wanted = [int(d) for d in dids[picked]]
            marks = ",".join("?" * len(wanted))
            ids = dict(db.execute(f"SELECT did, id FROM docs WHERE did IN ({marks})", wanted))
            for j in picked:
                id_ = ids.get(int(dids[j]))
                if id_ is not None and (allowed is None or id_ in allowed):
                    out.append((id_, float(scores[j])))
                    if len(out) >= n:
                        return out
        return out

    def size(self) -> int:
        return int(self._meta("n_docs", "0"))


_open: dict[Path, BM25Store] = {}
_open_lock = threading.Lock()


def store_for(location_key: str, collection_id: str) -> BM25Store:
    """One BM25Store object per index file per process."""
    path = index_path(location_key, collection_id)
    with _open_lock:
        if path not in _open:
            _open[path] = BM25Store(path)
        return _open[path]


def forget(location_key: str, collection_id: str) -> None:
    """Close and delete a collection's index (the collection itself was deleted)."""
    path = index_path(location_key, collection_id)
    with _open_lock:
        store = _open.pop(path, None)
    if store is not None:
        store.close()
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
