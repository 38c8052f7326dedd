"""Embeddings cached on disk by content hash, so no text is embedded twice by the same model.

One SQLite file per embedder under `cache_dir()`; the key is a hash of (kind, text), the value
the float32 vector. SQLite (WAL, busy timeout) lets an ingest and an evaluation share the cache
from different processes without a lock of our own.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from promptkit import paths
from promptkit.embedders.base import Embedder

_SQLITE_VARS = 500  # stay well under SQLite's bound-parameter limit


def cache_dir() -> Path:
    """$PROMPTKIT_EMBED_CACHE, else <PROMPTKIT_HOME>/cache/embeddings."""
    env = os.environ.get("PROMPTKIT_EMBED_CACHE")
    return Path(env).expanduser() if env else paths.home() / "cache" / "embeddings"


def _file_name(embedder_name: str, dim: int) -> str:
    # Path-named embedders contain slashes; keep a readable stem plus a hash for uniqueness.
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder_name)[-40:].strip("_") or "embedder"
    digest = hashlib.sha256(f"{embedder_name}\0{dim}".encode()).hexdigest()[:10]
    return f"{stem}-{dim}-{digest}.sqlite"


def text_key(kind: str, text: str) -> bytes:
    return hashlib.blake2b(f"{kind}\0{text}".encode(), digest_size=16).digest()


class EmbeddingCache:
    """A key → vector table in one SQLite file."""

    def __init__(self, path: Path, dim: int):
        self.path, self.dim = path, dim

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS vec (key BLOB PRIMARY KEY, v BLOB NOT NULL)")
        return conn

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        if not keys or not self.path.exists():
            return {}
        found: dict[bytes, np.ndarray] = {}
        conn = self._connect()
        try:
            for i in range(0, len(keys), _SQLITE_VARS):
                part = keys[i:i + _SQLITE_VARS]
                rows = conn.execute(
                    f"SELECT key, v FROM vec WHERE key IN ({','.join('?' * len(part))})", part)
                for key, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape[0] == self.dim:   # ignore rows from a different model version
                        found[key] = vec
        finally:
            conn.close()
        return found

    def put_many(self, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        if not items:
            return
        conn = self._connect()
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO vec (key, v) VALUES (?, ?)",
                                 [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items])
        finally:
            conn.close()


    def items(self) -> list[tuple[bytes, np.ndarray]]:
        if not self.path.exists():
            return []
        conn = self._connect()
        try:
            return [(k, np.frombuffer(v, dtype=np.float32)) for k, v in
                    conn.execute("SELECT key, v FROM vec ORDER BY key")
                    if len(v) == 4 * self.dim]
        finally:
            conn.close()


class CachedEmbedder(Embedder):
    """Base for real models: `_compute` runs the model, `_embed` serves cached vectors first."""

    use_cache: bool = True

    def model_version(self) -> str:
        """What must match for vectors computed elsewhere to be reused (see `seed`)."""
        return ""

    def export_seed(self, path: Path) -> int:
        """Write every cached vector of this embedder to `path` (.npz); returns the count."""
        items = self.cache().items()
        keys = np.array([list(k) for k, _ in items], dtype=np.uint8).reshape(-1, 16)
        vectors = (np.stack([v for _, v in items]) if items
                   else np.zeros((0, self.dim), np.float32))
        np.savez_compressed(path, keys=keys, vectors=vectors,
                            embedder=self.name, dim=self.dim, version=self.model_version())
        return len(items)

    def seed(self, path: Path) -> int:
        """Load vectors shipped beside a corpus into the cache, when they were made by this
        very model (name, size and version); returns how many were loaded.

        Keys are hashes of the exact texts, so a vector can only ever serve its own text; a
        text that changed since the seed was made is simply embedded again.
        """
        if not self.use_cache or not Path(path).is_file():
            return 0
        with np.load(path, allow_pickle=False) as data:
            same = (str(data["embedder"]) == self.name and int(data["dim"]) == self.dim
                    and str(data["version"]) == self.model_version())
            if not same:
                return 0
            keys = [row.tobytes() for row in data["keys"]]
            vectors = data["vectors"].astype(np.float32, copy=False)
        cache = self.cache()
        have = cache.get_many(keys)
        new = [(k, v) for k, v in zip(keys, vectors, strict=True) if k not in have]
        cache.put_many(new)
        return len(new)

    @abstractmethod
    def _compute(self, texts: list[str], kind: str) -> np.ndarray:
        """Run the model on `texts`; return normalised float32 vectors."""

    def cache(self) -> EmbeddingCache:
        # Resolved on every call: PROMPTKIT_HOME may change while one model stays loaded.
        return EmbeddingCache(cache_dir() / _file_name(self.name, self.dim), self.dim)

    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        texts = list(texts)
        if not self.use_cache:
            return self._compute(texts, kind)
        cache = self.cache()
        keys = [text_key(kind, t) for t in texts]
        found = cache.get_many(keys)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: dict[bytes, list[int]] = {}
        for row, key in enumerate(keys):
            if key in found:
                out[row] = found[key]
            else:
                todo.setdefault(key, []).append(row)
        if todo:
            first_rows = [rows[0] for rows in todo.values()]
            vecs = self._compute([texts[r] for r in first_rows], kind)
            for rows, vec in zip(todo.values(), vecs, strict=True):
                out[rows] = vec
            cache.put_many(list(zip(todo.keys(), vecs, strict=True)))
        return out
