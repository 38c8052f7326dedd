"""One loader per file format; each yields Documents (and Skips for bad records) for one file.

A loader raises SkipFile when the whole file cannot be used; the caller records the reason and
carries on with the next file, so one bad file never aborts an ingest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from promptkit.corpus.decoding import decode_text, looks_binary
from promptkit.corpus.documents import Document, Skip, SkipFile
from promptkit.safeparse import load_yaml, loads_json

Item = Document | Skip
Loader = Callable[[Path], Iterator[Item]]

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n(?:---|\.\.\.)\n", re.S)
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise SkipFile("empty file")
    return data


def _require_text(text: str) -> str:
    if not text.strip():
        raise SkipFile("no text in file")
    return text


def _scalars(values: dict) -> dict:
    """Keep what Chroma can store as metadata: str, int, float, bool."""
    return {str(k): v for k, v in values.items() if isinstance(v, str | int | float | bool)}


def load_text(path: Path) -> Iterator[Item]:
    text, encoding = decode_text(_read(path))
    yield Document(_require_text(text), str(path), str(path), path.stem,
                   {"encoding": encoding, "format": "text"})


def load_markdown(path: Path) -> Iterator[Item]:
    text, encoding = decode_text(_read(path))
    meta: dict = {"encoding": encoding, "format": "markdown"}
    match = _FRONT_MATTER.match(text)
    if match:
        import yaml

        try:
            front = load_yaml(match.group(1))
        except yaml.YAMLError as exc:
            raise SkipFile(f"front matter is not valid YAML: {exc}") from exc
        if isinstance(front, dict):
            meta.update(_scalars(front))
        text = text[match.end():]
    heading = _HEADING.search(text)
    title = str(meta.pop("title", "") or (heading.group(1) if heading else path.stem))
    yield Document(_require_text(text), str(path), str(path), title, meta)


def load_html(path: Path) -> Iterator[Item]:
    from bs4 import BeautifulSoup

    data = _read(path)
    if looks_binary(data):
        raise SkipFile("binary file (contains NUL bytes)")
    # Bytes in: BeautifulSoup honours <meta charset> and guesses the rest.
    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg"]):
        tag.extract()
    title_tag = soup.find("title")
    heading = soup.find("h1")
    title = (title_tag.get_text(" ", strip=True) if title_tag else "") or \
        (heading.get_text(" ", strip=True) if heading else "") or path.stem
    if soup.head:
        soup.head.extract()
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for line in soup.get_text("\n").splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    yield Document(_require_text(text), str(path), str(path), title,
                   {"encoding": soup.original_encoding or "utf-8", "format": "html"})


def load_pdf(path: Path) -> Iterator[Item]:
    from pypdf import PdfReader

    _read(path)   # same empty/unreadable checks as every format
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise SkipFile("encrypted PDF (needs a password)")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except SkipFile:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on malformed files
        raise SkipFile(f"not a readable PDF: {type(exc).__name__}: {exc}") from exc
    starts, parts, offset = [], [], 0
    for page_text in pages:
        starts.append(offset)
        parts.append(page_text)
        offset += len(page_text) + 2
    text = "\n\n".join(parts)
    if not text.strip():
        raise SkipFile("PDF has no extractable text (scanned images? run OCR first)")
    title = str(info.title) if info and info.title else path.stem
    yield Document(text, str(path), str(path), title, {"format": "pdf", "pages": len(pages)},
                   page_starts=tuple(starts))


def load_jsonl(path: Path) -> Iterator[Item]:
    """One document per line: `text` required; `title`, `_id`/`id` and scalar fields optional.

    BEIR's corpus.jsonl ({"_id", "title", "text"}) is this format. Lines are streamed, so a
    large file is never held in memory at once.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from exc
    any_line = False
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            any_line = True
            item = _jsonl_record(path, lineno, raw)
            yield item
    if not any_line:
        raise SkipFile("empty file")


def _jsonl_record(path: Path, lineno: int, raw: bytes) -> Item:
    where = f"{path}:{lineno}"
    try:
        record = loads_json(decode_text(raw)[0])
    except (json.JSONDecodeError, SkipFile) as exc:
        return Skip(where, f"invalid JSON: {exc}")
    if not isinstance(record, dict):
        return Skip(where, "a line must be a JSON object with a 'text' field")
    text, title = record.get("text"), record.get("title") or ""
    if not isinstance(text, str):
        fields = ", ".join(sorted(record)) or "none"
        return Skip(where, f"no 'text' string field (fields: {fields})")
    if not text.strip():
        text = str(title)    # BEIR has a few title-only records
    if not text.strip():
        return Skip(where, "empty text")
    doc_id = record.get("_id", record.get("id"))
    key = str(doc_id) if doc_id is not None else f"L{lineno}"
    meta = _scalars({k: v for k, v in record.items() if k not in ("text", "title", "_id", "id")})
    meta.update({"format": "jsonl", "doc_id": key, "line": lineno})
    return Document(text, f"{path}#{key}", str(path), str(title), meta)


LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    ".text": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".jsonl": load_jsonl,
}


def load_file(path: Path) -> Iterator[Item]:
    """Documents of one file (extension picks the loader); SkipFile if none can be had."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise SkipFile(f"unsupported file type {path.suffix or '(no extension)'}")
    return loader(path)
