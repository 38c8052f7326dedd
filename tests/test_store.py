"""The store with a real embedded Chroma and the deterministic fake embedder: incremental
ingest, resume after SIGKILL, locking, mismatch errors, search modes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptkit.corpus import Chunker, list_files, load_file
from promptkit.errors import NotFoundError, UserError
from promptkit.store import IngestSkipped, list_collections, open_collection
from promptkit.store.lock import CollectionBusy, writer_lock

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def stored_ids(coll) -> list[str]:
    return coll.chroma.get(include=[])["ids"]


def expected_ids(paths, chunk_tokens, overlap) -> set[str]:
    """What a perfect ingest stores: every chunk of every loadable file, computed directly."""
    from promptkit.embedders import get_embedder

    chunker = Chunker(get_embedder("fake").count_tokens, chunk_tokens, overlap)
    ids = set()
    for path in list_files(paths).files:
        for doc in load_file(path):
            if not hasattr(doc, "reason"):
                ids |= {c.id for c in chunker.split(doc)}
    return ids


def test_ingest_is_idempotent_and_incremental(small_corpus):
    coll = open_collection("inc", embedder="fake")
    first = coll.ingest([small_corpus])
    assert first.added == coll.count() == 3 and first.files == 3 and not first.skipped
    again = coll.ingest([small_corpus])
    assert (again.added, again.removed, again.files_unchanged, again.unchanged) == (0, 0, 3, 3)

    # Change one file, delete another, add a third: only those are touched.
    (small_corpus / "bert.txt").write_text("BERT was released by Google in 2018.\n")
    (small_corpus / "sub" / "quant.html").unlink()
    (small_corpus / "new.md").write_text("# Nuevo\n\nUn documento nuevo sobre RAG.\n")
    third = coll.ingest([small_corpus])
    assert (third.added, third.removed, third.files_unchanged) == (2, 2, 1)
    assert set(stored_ids(coll)) == expected_ids([small_corpus], 200, 30)
    hit = coll.search("Google released BERT", k=1)[0]
    assert "2018" in hit.text and hit.metadata["title"] == "bert"


def test_chunk_metadata_and_get(small_corpus):
    coll = open_collection("meta", embedder="fake")
    coll.ingest([small_corpus], chunk_tokens=8, overlap=2)
    hits = coll.get(stored_ids(coll))
    assert len(hits) == coll.count() > 3
    for h in hits:
        text = Path(h.metadata["file"]).read_text(encoding="utf-8")
        assert set(h.metadata) >= {"source", "file", "title", "chunk", "start", "end"}
        assert h.source == h.metadata["source"]
        if h.metadata["format"] != "html":   # html offsets are into the extracted text
            body = text.split("---\n", 2)[-1] if text.startswith("---") else text
            assert body[h.metadata["start"]:h.metadata["end"]] == h.text
    assert coll.info()["chunk_tokens"] == 8 and coll.info()["files"] == 3
    assert coll.get(["nope"]) == []


def test_embedder_and_chunking_mismatch_are_errors(small_corpus):
    open_collection("mism", embedder="fake").ingest([small_corpus])
    with pytest.raises(UserError, match="built with embedder 'hash'") as err:
        open_collection("mism", embedder="minilm")
    assert "--embedder hash" in err.value.hint
    same = open_collection("mism")                  # no embedder: the recorded one
    assert same.embedder.name == "hash"
    with pytest.raises(UserError, match="--chunk-tokens 200"):
        same.ingest([small_corpus], chunk_tokens=50)
    with pytest.raises(UserError, match="invalid collection name"):
        open_collection("a")
    with pytest.raises(NotFoundError, match="did you mean 'mism'"):
        open_collection("misn", create=False)
    assert [c["name"] for c in list_collections()] == ["mism"]


def test_strict_and_skips_are_reported(small_corpus):
    (small_corpus / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (small_corpus / "notes.docx").write_bytes(b"PK\x03\x04")
    coll = open_collection("strict", embedder="fake")
    report = coll.ingest([small_corpus])
    assert report.added == 3
    assert sorted(Path(s.path).name for s in report.skipped) == ["broken.pdf", "notes.docx"]
    with pytest.raises(IngestSkipped, match="2 file"):
        coll.ingest([small_corpus], strict=True)


def test_file_turning_bad_loses_its_chunks(small_corpus):
    coll = open_collection("turnbad", embedder="fake")
    coll.ingest([small_corpus])
    (small_corpus / "bert.txt").write_bytes(b"\x00\x00binary now")
    report = coll.ingest([small_corpus])
    assert report.removed == 1 and coll.count() == 2


def test_search_modes(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    texts = {
        "a1.txt": "transformers use attention layers attention heads",
        "a2.txt": "transformers use attention layers attention heads too",
        "b.txt": "quantization stores weights in four bits",
        "c.txt": "retrieval augmented generation with attention over documents",
    }
    for name, text in texts.items():
        (root / name).write_text(text)
    (root / "es.md").write_text("---\nlang: es\n---\nla atención en transformers\n")
    coll = open_collection("modes", embedder="fake")
    coll.ingest([root])

    dense = coll.search("attention transformers", k=3)
    assert [h.rank for h in dense] == [1, 2, 3]
    assert [h.score for h in dense] == sorted((h.score for h in dense), reverse=True)
    assert {Path(dense[0].source).name, Path(dense[1].source).name} == {"a1.txt", "a2.txt"}
    exact = coll.search("attention transformers", k=3, exact=True)
    assert [h.id for h in exact] == [h.id for h in dense]

    # MMR: the near-duplicate of the top hit gives way to something different.
    diverse = coll.search("attention transformers", k=2, mmr=True, mmr_lambda=0.3)
    assert len({Path(h.source).name for h in diverse} & {"a1.txt", "a2.txt"}) == 1

    assert all(h.score >= 0.5 for h in coll.search("attention transformers", k=5, min_score=0.5))
    assert coll.search("attention", k=5, min_score=0.99) == []

    only_es = coll.search("attention transformers", k=5, where={"lang": "es"})
    assert [Path(h.source).name for h in only_es] == ["es.md"]

    # Hybrid: a rare exact word ranks its document first; scores are RRF scores.
    hybrid = coll.search("quantization", k=2, hybrid=True)
    assert Path(hybrid[0].source).name == "b.txt" and hybrid[0].score <= 2 / 61
    assert "similarity" in hybrid[0].metadata
    hybrid_es = coll.search("transformers", k=5, hybrid=True, where={"lang": "es"})
    assert [Path(h.source).name for h in hybrid_es] == ["es.md"]

    with pytest.raises(UserError, match="empty"):
        coll.search("  ")
    with pytest.raises(UserError, match="-k"):
        coll.search("x", k=0)


def test_writer_lock_gives_a_clear_error(small_corpus):
    coll = open_collection("locked", embedder="fake")
    with writer_lock(coll.location, coll.name):
        with pytest.raises(CollectionBusy, match=f"pid {os.getpid()}"):
            coll.ingest([small_corpus])
    assert coll.ingest([small_corpus]).added == 3   # released afterwards


# A child process that ingests slowly (the fake embedder sleeps per batch of 4 chunks) and
# prints a line after every stored batch, so the parent can kill it mid-way.
_CHILD = textwrap.dedent("""
    import sys, time
    import promptkit.store.ingest as ing
    from promptkit.embedders import get_embedder
    from promptkit.store import open_collection
    ing.FLUSH = 4
    emb = get_embedder("fake")
    emb.batch_size = 4
    slow = float(sys.argv[3])
    original = type(emb)._embed
    def sleepy(self, texts, kind):
        time.sleep(slow)
        return original(self, texts, kind)
    type(emb)._embed = sleepy
    coll = open_collection(sys.argv[2], embedder="fake")
    def progress(p):
        print("added", p.chunks_added, flush=True)
    try:
        report = coll.ingest([sys.argv[1]], chunk_tokens=8, overlap=2, progress=progress)
    except Exception as exc:
        print("error", type(exc).__name__, exc, flush=True)
        sys.exit(3)
    print("done", report.added, flush=True)
""")


def _child(corpus: Path, name: str, slow: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(corpus), name, str(slow)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=PROJECT_ROOT, env=os.environ.copy())


def _many_docs(root: Path) -> Path:
    root.mkdir()
    for i in range(6):
        (root / f"doc{i}.txt").write_text(" ".join(
            f"Document {i} sentence {j} about topic {i * 10 + j}." for j in range(12)))
    return root


def test_sigkill_mid_ingest_then_rerun_gives_exactly_the_right_chunks(tmp_path):
    corpus = _many_docs(tmp_path / "many")
    want = expected_ids([corpus], 8, 2)
    proc = _child(corpus, "killed", slow=0.3)
    added = 0
    for line in proc.stdout:
        if line.startswith("added"):
            added = int(line.split()[1])
            if added >= 12:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    coll = open_collection("killed")
    partial = set(stored_ids(coll))
    assert partial and partial < want             # killed half-way: some, not all

    report = coll.ingest([corpus])                # recorded chunk settings are reused
    ids = stored_ids(coll)
    assert len(ids) == len(set(ids)) == len(want) and set(ids) == want
    assert report.added == len(want) - len(partial)
    assert coll.ingest([corpus]).added == 0


def test_two_ingests_at_once_never_duplicate(tmp_path):
    corpus = _many_docs(tmp_path / "many")
    want = expected_ids([corpus], 8, 2)
    first = _child(corpus, "twice", slow=0.2)
    assert first.stdout.readline().startswith("added")   # first holds the lock now
    second = _child(corpus, "twice", slow=0.0)
    out2, _ = second.communicate(timeout=120)
    out1, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out1
    assert second.returncode == 3 and "CollectionBusy" in out2 and "being written" in out2
    ids = stored_ids(open_collection("twice"))
    assert len(ids) == len(set(ids)) and set(ids) == want


def test_ingest_progress_reports_files_and_chunks(small_corpus):
    events = []
    open_collection("prog", embedder="fake").ingest([small_corpus], progress=events.append)
    assert events[-1].files_done == events[-1].files_total == 3
    assert events[-1].chunks_added == 3
    assert all(a.chunks_done <= b.chunks_done for a, b in zip(events, events[1:], strict=False))


def test_collection_delete(small_corpus):
    coll = open_collection("gone", embedder="fake")
    coll.ingest([small_corpus])
    coll.delete()
    with pytest.raises(NotFoundError):
        open_collection("gone", create=False)
