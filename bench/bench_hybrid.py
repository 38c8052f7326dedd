"""Hybrid search latency: the persistent BM25 index against the per-process rebuild it replaced.

Before: the first hybrid query of each process read every chunk of the collection from Chroma,
tokenized it and built a rank-bm25 index in memory (kept for the rest of the process). After:
the index lives on disk (`promptkit.store.bm25_index`), is synced by difference when the
collection changes, and a query reads only the postings of its own words.

Synthetic collections of 5k and 50k chunks (~150 words each, Zipf-distributed vocabulary,
random unit vectors for the dense side, the hash embedder for queries) are built once; then
each implementation runs in fresh processes, as a CLI call or a new worker would: the first
hybrid query of the process, then the p50/p95 of the following ones. Prints the ratios
(before / after; above 1 = faster now). The one-time build of the persistent index (the first
hybrid query ever on a collection, or the sync after an ingest) is printed too.

    .venv/bin/python bench/bench_hybrid.py [--sizes 5000,50000] [--queries 30] [--rounds 2]

Before needs rank-bm25 (dev extra); without it only the new implementation is timed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_CHUNK = 150
VOCAB = 30_000
DIM = 256


def _vocabulary(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = sorted({"".join(rng.choice(letters, size=rng.integers(4, 11)))
                    for _ in range(VOCAB * 2)})[:VOCAB]
    rng.shuffle(words)
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.07   # Zipf, as natural text
    return words, weights / weights.sum()


def build(name: str, n_chunks: int, seed: int = 0) -> None:
    """Collection `name` with `n_chunks` synthetic chunks (embeddings precomputed)."""
    from promptkit.store import open_collection
    from promptkit.store.client import client_for

    rng = np.random.default_rng(seed)
    words, probs = _vocabulary(rng)
    coll = open_collection(name, embedder="fake")
    step = min(5000, client_for(coll.location).get_max_batch_size())
    for start in range(0, n_chunks, step):
        n = min(step, n_chunks - start)
        picks = rng.choice(len(words), size=(n, WORDS_PER_CHUNK), p=probs)
        texts = [" ".join(words[i] for i in row) for row in picks]
        vecs = rng.standard_normal((n, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        coll.chroma.add(ids=[f"c{start + j}" for j in range(n)], embeddings=vecs,
                        documents=texts, metadatas=[{"source": f"doc{(start + j) // 20}.txt"}
                                                    for j in range(n)])


def time_sync(name: str, n_new: int = 100) -> float:
    """Seconds to bring the on-disk index up to date after `n_new` chunks were added."""
    from promptkit.store import open_collection

    coll = open_collection(name, embedder="fake")
    coll._bm25()                              # current before the change
    rng = np.random.default_rng(7)
    words, probs = _vocabulary(np.random.default_rng(0))
    picks = rng.choice(len(words), size=(n_new, WORDS_PER_CHUNK), p=probs)
    vecs = rng.standard_normal((n_new, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    base = coll.count()
    coll.chroma.add(ids=[f"n{base + j}" for j in range(n_new)], embeddings=vecs,
                    documents=[" ".join(words[i] for i in row) for row in picks])
    t0 = time.perf_counter()
    coll._bm25()
    return time.perf_counter() - t0


def queries(n: int, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(0)
    words, _ = _vocabulary(rng)              # same vocabulary as the chunks
    qrng = np.random.default_rng(seed)
    # Content words: neither the few most frequent nor the long tail.
    return [" ".join(words[i] for i in qrng.integers(20, 5000, size=qrng.integers(3, 7)))
            for _ in range(n)]


# -- the implementation before (promptkit 668b07c), kept here to measure against -------------

_OLD_STOP = frozenset("""
a al algo algunos ante antes como con contra cual cuando de del desde donde durante e el ella
ellas ellos en entre era es esa esas ese eso esos esta estas este esto estos fue ha hay la las le
les lo los mas me mi muy nada ni no nos o otra otro para pero poco por porque que quien se
sea ser si sin sobre son su sus tambien te tiene tu un una uno unos y ya yo cual cuales
the of and or to in on at by for with from as is are was were be been being it its this that
these those an a which who whom what when where why how do does did not no so than then there
their they them he she his her we our you your i me my can could would should will shall may
might must has have had into about over under also such only other some any each both all
""".split())


def _old_tokenize(text: str) -> list[str]:
    import re
    import unicodedata

    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [w for w in re.findall(r"\w+", folded)
            if w not in _OLD_STOP and (len(w) > 1 or w.isdigit())]


class _OldIndex:
    def __init__(self, ids, texts):
        from rank_bm25 import BM25Okapi

        self.ids = list(ids)
        self._bm25 = BM25Okapi([_old_tokenize(t) or ["\0"] for t in texts]) if self.ids else None

    def top(self, query, n, allowed=None):
        from promptkit.retrieval.bm25 import best_positive

        terms = _old_tokenize(query)
        if self._bm25 is None or not terms:
            return []
        return best_positive(self.ids, np.asarray(self._bm25.get_scores(terms)), n, allowed)


def _old_collection(name: str):
    from promptkit.store import open_collection
    from promptkit.store.client import client_for
    from promptkit.store.collection import META_GENERATION, Collection

    cache: dict = {}

    class OldCollection(Collection):
        def _bm25(self):
            fresh = client_for(self.location).get_collection(self.name, embedding_function=None)
            stamp = (self.location.key, self.name, fresh.count(),
                     (fresh.metadata or {}).get(META_GENERATION, 0))
            if stamp not in cache:
                ids, texts = [], []
                for page in self.iter_rows(("documents",)):
                    ids += page["ids"]
                    texts += page["documents"]
                cache[stamp] = _OldIndex(ids, texts)
            return cache[stamp]

    coll = open_collection(name, embedder="fake")
    return OldCollection(coll.chroma, coll.location, "fake")


# -- one fresh process -------------------------------------------------------------------------

def child(impl: str, name: str, n_queries: int) -> dict:
    from promptkit.store import open_collection

    coll = _old_collection(name) if impl == "before" else open_collection(name, embedder="fake")
    qs = queries(n_queries + 1)
    coll.embedder.embed_query("warm up")      # the hash embedder costs nothing to load
    t0 = time.perf_counter()
    coll.search(qs[0], k=4, hybrid=True)
    first = time.perf_counter() - t0
    times = []
    for q in qs[1:]:
        t0 = time.perf_counter()
        coll.search(q, k=4, hybrid=True)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"first_ms": first * 1000, "p50_ms": statistics.median(times) * 1000,
            "p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1000}


def run_child(impl: str, name: str, n_queries: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", impl, "--name", name,
                          "--queries", str(n_queries)], cwd=ROOT, env=os.environ.copy(),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,50000")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2, help="fresh processes per implementation")
    ap.add_argument("--child", choices=("before", "after"))
    ap.add_argument("--name")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.name, args.queries)))
        return 0
    os.environ["PROMPTKIT_HOME"] = tempfile.mkdtemp(prefix="pk-bench-hybrid-")
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    have_old = importlib.util.find_spec("rank_bm25") is not None
    if not have_old:
        print("rank-bm25 is not installed (dev extra): timing the new implementation only")
    for size in (int(s) for s in args.sizes.split(",")):
        name = f"hybrid-{size}"
        t0 = time.perf_counter()
        build(name, size)
        print(f"\n{size} chunks ({WORDS_PER_CHUNK} words each) built in "
              f"{time.perf_counter() - t0:.1f} s; {args.queries} hybrid queries, k=4")
        once = run_child("after", name, 1)   # no index on disk yet: builds it
        print(f"  after, first hybrid query ever (builds the on-disk index): "
              f"{once['first_ms']:9.1f} ms")
        rows: dict[str, list[dict]] = {"before": [], "after": []}
        for _ in range(args.rounds):         # interleaved, so machine noise hits both
            for impl in (("before", "after") if have_old else ("after",)):
                rows[impl].append(run_child(impl, name, args.queries))
        summary = {}
        for impl, runs in rows.items():
            if not runs:
                continue
            summary[impl] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            s = summary[impl]
            print(f"  {impl:<6} fresh process: first query {s['first_ms']:9.1f} ms   "
                  f"p50 {s['p50_ms']:7.1f} ms   p95 {s['p95_ms']:7.1f} ms")
        if "before" in summary:
            b, a = summary["before"], summary["after"]
            print(f"  RATIO before/after: first query {b['first_ms'] / a['first_ms']:.1f}x   "
                  f"p50 {b['p50_ms'] / a['p50_ms']:.2f}x   p95 {b['p95_ms'] / a['p95_ms']:.2f}x")
        # Before, any change meant a full rebuild in every process; now one sync by difference.
        print(f"  after, syncing the index after 100 new chunks: "
              f"{time_sync(name) * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
