"""The persistent BM25 index behind hybrid search: built once, kept on disk, synced by
difference with the collection, and scoring exactly like the in-memory index."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptkit.retrieval.bm25 import BM25Index, tokenize
from promptkit.store import open_collection

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_spanish_and_english_stop_words_are_dropped():
    assert tokenize("Los modelos están aquí porque habían sido entrenados") == [
        "modelos", "entrenados"]
    assert tokenize("Which models were being trained, and why would they've been?") == [
        "models", "trained"]
    assert tokenize("BERT enmascara el 15% de los tokens") == ["bert", "enmascara", "15",
                                                               "tokens"]


def _index_of(coll):
    from promptkit.store import bm25_index

    return bm25_index.store_for(coll.location.key, str(coll.chroma.id))


def test_the_index_persists_and_follows_ingests_incrementally(small_corpus):
    coll = open_collection("bm25-inc", embedder="fake")
    coll.ingest([small_corpus])
    assert coll.search("quantization bits", k=1, hybrid=True)[0].metadata["title"] == "Quantization"
    index = _index_of(coll)
    assert index.path.is_file() and index.path.is_relative_to(Path(os.environ["PROMPTKIT_HOME"]))
    assert index.size() == coll.count() == 3

    # One file changed, one deleted, one added: the ingest brings the index along, and only
    # the chunks that changed are read and tokenized again.
    (small_corpus / "bert.txt").write_text("BERT was released by Google in 2018.\n")
    (small_corpus / "sub" / "quant.html").unlink()
    (small_corpus / "new.md").write_text("# Nuevo\n\nUn documento nuevo sobre RAG.\n")
    coll.ingest([small_corpus])
    assert index.last_sync == {"added": 2, "removed": 2}
    assert index.size() == coll.count() == 3
    assert coll.search("quantization", k=3, hybrid=True)[0].metadata["title"] != "Quantization"
    top = coll.search("documento nuevo RAG", k=1, hybrid=True)[0]
    assert top.metadata["title"] == "Nuevo"

    coll.delete()
    assert not index.path.exists()


def test_persistent_scores_equal_the_in_memory_index(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    texts = {
        "a.txt": "transformers use attention layers attention heads",
        "b.txt": "quantization stores weights in four bits and saves memory",
        "c.txt": "retrieval augmented generation with attention over documents",
        "d.md": "la atención en transformers permite mirar todas las posiciones",
        "e.txt": "attention attention attention everywhere in the transformer",
    }
    for name, text in texts.items():
        (docs / name).write_text(text, encoding="utf-8")
    coll = open_collection("bm25-same", embedder="fake")
    coll.ingest([docs])
    rows = coll.chroma.get(include=["documents"])
    memory = BM25Index(rows["ids"], rows["documents"])
    disk = coll._bm25()
    for query in ("attention transformers", "atención", "quantization memory bits", "nothing"):
        want = memory.top(query, 5)
        got = disk.top(query, 5)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want])
    allowed = {rows["ids"][0]}
    assert [i for i, _ in disk.top("attention", 5, allowed)] == [
        i for i, _ in memory.top("attention", 5, allowed)]


# A fresh process whose collection cannot be scanned: hybrid search must still answer from
# the index on disk (before, the first hybrid query of every process read every chunk).
_CHILD = textwrap.dedent("""
    import sys
    from promptkit.store import collection, open_collection
    def no_scan(self, *args, **kwargs):
        raise RuntimeError("hybrid search scanned the whole collection")
    collection.Collection.iter_rows = no_scan
    hits = open_collection(sys.argv[1], embedder="fake").search("quantization bits", k=1,
                                                                hybrid=True)
    print(hits[0].metadata["title"])
""")


def test_a_fresh_process_queries_without_scanning_the_collection(small_corpus):
    coll = open_collection("bm25-fresh", embedder="fake")
    coll.ingest([small_corpus])
    coll.search("warm up", k=1, hybrid=True)    # builds the index once
    child = subprocess.run([sys.executable, "-c", _CHILD, "bm25-fresh"], cwd=PROJECT_ROOT,
                           env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip() == "Quantization"
