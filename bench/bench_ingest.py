"""Ingestion: promptkit vs the raw baseline, re-ingest cost, and peak memory vs corpus size.

1. Throughput: `Collection.ingest` (read, chunk, hash, embed, store) against the raw baseline on
   the same chunks (`SentenceTransformer.encode` + `collection.add`). Ratio = promptkit
   throughput / baseline throughput; target >= 0.95.
2. Re-ingesting the unchanged corpus, as a share of the first ingest's time; target <= 5%.
3. Peak RSS of an ingest of the first 1,000 vs all SciFact documents (separate processes): it
   must not grow with corpus size.

    .venv/bin/python bench/bench_ingest.py [--docs 300] [--reps 2] [--memory-embedder fake]

Data: ../shared/data/beir_scifact/corpus.jsonl (read there, never copied into the repo).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "beir_scifact" / "corpus.jsonl"
sys.path.insert(0, str(ROOT))


def subset(n: int | None, folder: Path) -> Path:
    """The first `n` SciFact documents as a JSONL file (all of them when n is None)."""
    out = folder / f"scifact-{n or 'all'}.jsonl"
    with CORPUS.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        dst.writelines(islice(src, n))
    return out


def fresh_env(tag: str) -> None:
    """A new PROMPTKIT_HOME and an empty embedding cache: nothing carried between runs."""
    home = tempfile.mkdtemp(prefix=f"pk-bench-{tag}-")
    os.environ["PROMPTKIT_HOME"] = home
    os.environ["PROMPTKIT_EMBED_CACHE"] = str(Path(home) / "embcache")


def run_promptkit(path: Path, name: str) -> tuple[float, float, int]:
    """(first ingest seconds, re-ingest seconds, chunks)."""
    from promptkit.store import open_collection

    fresh_env("pk")
    coll = open_collection(name, embedder="minilm")
    t0 = time.perf_counter()
    report = coll.ingest([path])
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    again = coll.ingest([path])
    second = time.perf_counter() - t1
    assert again.added == 0 and again.unchanged == report.added
    return first, second, report.added


def chunks_of(path: Path) -> list:
    from promptkit.corpus import Chunker, load_file
    from promptkit.embedders import get_embedder

    chunker = Chunker(get_embedder("minilm").count_tokens, 200, 30)
    return [c for doc in load_file(path) for c in chunker.split(doc)]


def run_baseline(model, chunks: list) -> float:
    import chromadb
    from chromadb.config import Settings

    folder = tempfile.mkdtemp(prefix="pk-bench-raw-")
    texts = [c.text for c in chunks]
    t0 = time.perf_counter()
    client = chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))
    col = client.create_collection("raw", configuration={"hnsw": {"space": "cosine"}},
                                   embedding_function=None)
    vecs = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    step = client.get_max_batch_size()
    for i in range(0, len(chunks), step):
        col.add(ids=[c.id for c in chunks[i:i + step]], embeddings=vecs[i:i + step],
                documents=texts[i:i + step], metadatas=[c.metadata for c in chunks[i:i + step]])
    return time.perf_counter() - t0


def throughput(docs: int, reps: int) -> None:
    from sentence_transformers import SentenceTransformer

    from promptkit.embedders import get_embedder

    work = Path(tempfile.mkdtemp(prefix="pk-bench-data-"))
    path = subset(docs, work)
    chunks = chunks_of(path)
    emb = get_embedder("minilm")
    emb.model()
    raw_model = SentenceTransformer(str(emb.folder), device="cpu", local_files_only=True)
    raw_model.encode(["warm-up"])
    emb.embed_query("warm-up")
    raw, pk, re_ = [], [], []
    for rep in range(reps):   # interleaved, so load from other processes hits both alike
        raw.append(run_baseline(raw_model, chunks))
        first, second, n = run_promptkit(path, f"bench-{rep}")
        assert n == len(chunks), (n, len(chunks))
        pk.append(first)
        re_.append(second)
        print(f"  rep {rep + 1}: baseline {raw[-1]:.1f} s, promptkit {first:.1f} s, "
              f"re-ingest {second:.2f} s", flush=True)
    b, p = min(raw), min(pk)
    print(f"ingest {docs} SciFact docs = {len(chunks)} chunks (200 tokens, overlap 30), MiniLM, "
          f"best of {reps}")
    print(f"  baseline (encode + add, chunks given): {b:.1f} s = {len(chunks) / b:.1f} chunks/s")
    print(f"  promptkit ingest (read+chunk+embed+store): {p:.1f} s = "
          f"{len(chunks) / p:.1f} chunks/s")
    print(f"  RATIO throughput promptkit/baseline = {b / p:.3f} (target >= 0.95)")
    r = min(re_)
    print(f"  RATIO re-ingest unchanged / first ingest = {r / p:.2%} ({r:.2f} s; target <= 5%)")


def memory_child(n: int | None, embedder: str, raw_chunks: int = 0) -> None:
    fresh_env("mem")
    if raw_chunks:   # the comparison: Chroma alone, holding the same number of vectors
        chroma_only(raw_chunks, embedder)
        return
    from promptkit.store import open_collection

    path = subset(n, Path(tempfile.mkdtemp(prefix="pk-bench-mem-")))
    report = open_collection("mem", embedder=embedder).ingest([path])
    print(json.dumps({"docs": n or "all", "chunks": report.added,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def chroma_only(chunks: int, embedder: str) -> None:
    import chromadb
    import numpy as np
    from chromadb.config import Settings

    from promptkit.embedders import get_embedder

    dim = get_embedder(embedder).dim
    client = chromadb.PersistentClient(path=os.environ["PROMPTKIT_HOME"],
                                       settings=Settings(anonymized_telemetry=False))
    col = client.create_collection("raw", configuration={"hnsw": {"space": "cosine"}},
                                   embedding_function=None)
    rng = np.random.default_rng(0)
    for i in range(0, chunks, 512):
        n = min(512, chunks - i)
        vecs = rng.standard_normal((n, dim)).astype(np.float32)
        col.add(ids=[f"c{i + j}" for j in range(n)], embeddings=vecs,
                documents=["x" * 1000] * n)
    print(json.dumps({"docs": "-", "chunks": chunks,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _child_run(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory(embedder: str) -> None:
    rows = [_child_run("--memory-child", str(n or 0), "--memory-embedder", embedder)
            for n in (1000, None)]
    raw = [_child_run("--memory-child", "0", "--raw-chunks", str(r["chunks"]),
                      "--memory-embedder", embedder) for r in rows]
    print(f"peak RSS while ingesting SciFact ({embedder} embedder, separate processes):")
    for r, c in zip(rows, raw, strict=True):
        print(f"  {str(r['docs']):>5} docs, {r['chunks']:>6} chunks: {r['max_rss_mb']:.0f} MiB  "
              f"(Chroma alone adding as many vectors: {c['max_rss_mb']:.0f} MiB)")
    a, b = rows
    growth, chroma_growth = b["max_rss_mb"] - a["max_rss_mb"], raw[1]["max_rss_mb"] - raw[0][
        "max_rss_mb"]
    print(f"  RATIO peak RSS all/1000 docs = {b['max_rss_mb'] / a['max_rss_mb']:.3f} "
          f"(corpus {b['chunks'] / a['chunks']:.1f}x larger; target ~1.0); growth "
          f"{growth:.0f} MiB, of which Chroma's own index accounts for {chroma_growth:.0f} MiB")


def main() -> int:
    ap = argparse.ArgumentParser(description="promptkit ingest vs raw baseline")
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--memory-embedder", default="fake",
                    help="embedder for the memory runs (fake isolates the pipeline's own memory; "
                         "minilm takes long on 2 cores)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--raw-chunks", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not CORPUS.is_file():
        print(f"skipped: {CORPUS} not found (../shared is absent in a fresh clone)")
        return 0
    if args.memory_child is not None:
        memory_child(args.memory_child or None, args.memory_embedder, args.raw_chunks)
        return 0
    if not args.skip_throughput:
        throughput(args.docs, args.reps)
    if not args.skip_memory:
        memory(args.memory_embedder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
