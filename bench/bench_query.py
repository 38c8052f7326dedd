"""Query latency: `Collection.search` vs raw `SentenceTransformer.encode` + Chroma `query`.

A collection of the first N SciFact abstracts (MiniLM, 200-token chunks) is queried with SciFact
queries, promptkit and the baseline interleaved query by query on the same Chroma collection.
Query-embedding caching is off on the promptkit side, so both embed every query. Prints p50/p95
and the ratio of p50s (promptkit / baseline; 1.0 = no overhead), plus MMR and hybrid latencies.

    .venv/bin/python bench/bench_query.py [--docs 500] [--queries 100] [-k 4]

Corpus embeddings are cached under .promptkit/cache/embeddings, so a re-run builds fast.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "beir_scifact"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description="promptkit search vs raw encode + Chroma query")
    ap.add_argument("--docs", type=int, default=500)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("-k", type=int, default=4)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found (../shared is absent in a fresh clone)")
        return 0
    os.environ["PROMPTKIT_HOME"] = tempfile.mkdtemp(prefix="pk-bench-query-")
    os.environ.setdefault("PROMPTKIT_EMBED_CACHE",
                          str(ROOT / ".promptkit" / "cache" / "embeddings"))
    from sentence_transformers import SentenceTransformer

    from promptkit.embedders import get_embedder
    from promptkit.store import open_collection

    work = Path(os.environ["PROMPTKIT_HOME"])
    corpus = work / "corpus.jsonl"
    with (DATA / "corpus.jsonl").open(encoding="utf-8") as src:
        corpus.write_text("".join(islice(src, args.docs)), encoding="utf-8")
    t0 = time.perf_counter()
    report = open_collection("query-bench", embedder="minilm").ingest([corpus])
    print(f"built: {report.added} chunks from {args.docs} docs in {time.perf_counter() - t0:.1f} s")

    uncached = get_embedder("minilm", cache=False)
    coll = open_collection("query-bench", embedder=uncached)
    raw_model = SentenceTransformer(str(uncached.folder), device="cpu", local_files_only=True)
    col = coll.chroma
    with (DATA / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in islice(fh, args.queries)]
    for q in queries[:3]:   # warm both paths (model first call, Chroma index load)
        coll.search(q, k=args.k)
        col.query(query_embeddings=[raw_model.encode(q, normalize_embeddings=True)],
                  n_results=args.k)

    pk, raw, mmr, hybrid = [], [], [], []
    for q in queries:
        t = time.perf_counter()
        coll.search(q, k=args.k)
        pk.append(time.perf_counter() - t)
        t = time.perf_counter()
        vec = raw_model.encode(q, normalize_embeddings=True, show_progress_bar=False)
        col.query(query_embeddings=[vec], n_results=args.k,
                  include=["documents", "metadatas", "distances"])
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        coll.search(q, k=args.k, mmr=True)
        mmr.append(time.perf_counter() - t)
        t = time.perf_counter()
        coll.search(q, k=args.k, hybrid=True)
        hybrid.append(time.perf_counter() - t)

    print(f"{len(queries)} SciFact queries, k={args.k}, {coll.count()} chunks, MiniLM, ms:")
    for name, vals in (("baseline encode+query", raw), ("promptkit search", pk),
                       ("promptkit search --mmr", mmr), ("promptkit search --hybrid", hybrid)):
        print(f"  {name:<28} p50 {pct(vals, 0.5):7.1f}   p95 {pct(vals, 0.95):7.1f}")
    print(f"  RATIO p50 promptkit/baseline = {statistics.median(pk) / statistics.median(raw):.3f}"
          f"   p95 = {pct(pk, 0.95) / pct(raw, 0.95):.3f} (1.0 = no overhead)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
