"""What a suite retrieves from: the real collection, recorded and replayed like model answers.

Record mode searches the real store (its corpus ingested first) and writes each case's hits to
the suite's recordings; replay mode serves them back without an embedder or Chroma, so a replay
run is fast and gives the same passages on any machine (embedding floats differ slightly across
CPUs, enough to swap two near-tied chunks). The retrieval key covers the query, the search
options, the embedder and chunk settings, and a fingerprint of the corpus files: change any of
them and replay says so instead of serving stale passages.

Hits carry `source` relative to the corpus folder. The store records absolute paths, and those
end up in the rendered prompt ("[1] (source) text"); a recording keyed on them would only
replay in the checkout it was recorded in.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptkit.retrieval.rerank import Reranker
from promptkit.testing.suite import Suite
from promptkit.testing.suite_recordings import Recordings

KEY_VERSION = 1


def corpus_fingerprint(root: Path) -> str | None:
    """sha256 over the corpus files' relative paths and contents (hidden entries skipped)."""
    if not root.exists():
        return None
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(
        Path(d) / f for d, dirs, fs in os.walk(root)
        for f in fs if not f.startswith(".") and not any(p.startswith(".") for p in
                                                         Path(d).relative_to(root).parts))
    for path in files:
        h.update(path.relative_to(root if root.is_dir() else root.parent).as_posix().encode())
        h.update(b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + h.hexdigest()[:32]


class SuiteRetrieval:
    """`.search(query, **options)` for the pipeline: live, recorded or replayed hits."""

    def __init__(self, suite: Suite, name: str, recordings: Recordings,
                 embedder: Callable[[str | None], Any]):
        self.suite, self.name, self.recordings = suite, name, recordings
        self._embedder_fn = embedder
        retrieval = suite.spec.retrieval
        self.own = retrieval is not None and name == retrieval.collection
        self.root = suite.resolve(retrieval.corpus) if self.own and retrieval.corpus else None
        self._inner = None
        self._fingerprint: str | None = None

    @property
    def embedder(self):
        """For prompts whose few-shot examples are picked by similarity (loaded on use)."""
        retrieval = self.suite.spec.retrieval
        return self._embedder_fn(retrieval.embedder if retrieval else None)

    def request(self, query: str, options: dict) -> dict:
        retrieval = self.suite.spec.retrieval
        if self._fingerprint is None and self.root is not None:
            self._fingerprint = corpus_fingerprint(self.root)
        return {"collection": self.name, "query": query,
                "embedder": (retrieval.embedder if retrieval else None) or "default",
                "chunking": [retrieval.chunk_tokens, retrieval.overlap] if retrieval else None,
                "corpus": self._fingerprint,
                "options": {k: options.get(k) for k in sorted(options)}}

    def search(self, query: str, **options) -> list[dict]:
        request = self.request(query, options)
        key = hashlib.sha256(json.dumps({"v": KEY_VERSION, **request}, sort_keys=True,
                                        ensure_ascii=False).encode()).hexdigest()
        if self.recordings.consults:
            recorded = self.recordings.lookup_hits(key, request)
            if recorded is not None:
                return recorded
        hits = [self._plain(h) for h in self._collection().search(query, **options)]
        if self.recordings.stores(None):
            self.recordings.store_hits(key, request, hits)
        return hits

    def _collection(self):
        """The real collection; for the suite's own one, ingest its corpus first.

        Ingestion is incremental (unchanged files are skipped), so a re-run costs a hash per file.
        """
        if self._inner is None:
            from promptkit.store import open_collection

            retrieval = self.suite.spec.retrieval
            collection = open_collection(self.name, embedder=self.embedder)
            if self.root is not None:
                collection.ingest([self.root], chunk_tokens=retrieval.chunk_tokens,
                                  overlap=retrieval.overlap)
            self._inner = collection
        return self._inner

    def _plain(self, hit) -> dict:
        source = hit.source
        if self.root is not None:
            path = Path(source.split("#", 1)[0])
            try:
                source = path.relative_to(self.root).as_posix() + source[len(str(path)):]
            except ValueError:
                pass
        return {"id": hit.id, "text": hit.text, "source": source,
                "score": round(float(hit.score), 6), "rank": hit.rank}


class SuiteReranker(Reranker):
    """The suite's rerank stage: scores come from the cross-encoder live, or from the recordings.

    The key is the reranker as the suite names it, the query and the candidates' texts; a
    different model file behind the same folder name is not noticed (re-record after changing it).
    """

    def __init__(self, spec: str, recordings: Recordings, suite: Suite):
        self.spec, self.recordings = spec, recordings
        # A relative folder is relative to the suite file, like its corpus.
        from promptkit.llm import hub

        self.source = spec if hub.is_hub_name(spec) or spec == "fake" else str(suite.resolve(spec))
        self.name = spec

    def score(self, query: str, texts) -> list[float]:
        digest = hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode()).hexdigest()
        request = {"rerank": self.spec, "query": query, "candidates": len(texts),
                   "texts": "sha256:" + digest[:32]}
        key = hashlib.sha256(json.dumps({"v": KEY_VERSION, **request}, sort_keys=True,
                                        ensure_ascii=False).encode()).hexdigest()
        if self.recordings.consults:
            recorded = self.recordings.lookup_hits(key, request)
            if recorded is not None:
                return [float(h["score"]) for h in recorded]
        from promptkit.retrieval.rerank import get_reranker

        scores = get_reranker(self.source).score(query, texts)
        if self.recordings.stores(None):
            self.recordings.store_hits(key, request, [{"id": str(i), "text": "", "score": s}
                                                      for i, s in enumerate(scores)])
        return scores
