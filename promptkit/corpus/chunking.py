"""Documents to chunks, sized in the embedder's own tokens (langchain-text-splitters).

Never tiktoken: it downloads its encodings at first use. The splitter cuts at paragraphs, then
lines, then sentences, then words, so chunks end where the prose does whenever it can.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from promptkit.corpus.documents import Document
from promptkit.errors import UserError

DEFAULT_CHUNK_TOKENS = 200
DEFAULT_OVERLAP = 30

# Sentence ends before words: fewer, larger pieces to count, and chunks end on a full stop.
# Regexes, kept at the end of the piece they close (keep_separator="end").
_PROSE = [re.escape(s) for s in ("\n\n", "\n", ". ", "? ", "! ", "; ", ": ", ", ", " ")] + [""]
# Markdown: cut before a heading or a code fence first (a lookahead: the heading opens the
# next piece).
_MARKDOWN = [r"\n(?=#{1,6} )", r"\n(?=```)"] + _PROSE


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    metadata: dict = field(hash=False)   # source, file, title, chunk, start, end, + document's


def chunk_id(source: str, text: str, occurrence: int = 0) -> str:
    """Content hash, scoped to the source so the same text in two files stays two chunks."""
    key = f"{source}\0{text}" if occurrence == 0 else f"{source}\0{occurrence}\0{text}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def check_settings(chunk_tokens: int, overlap: int, max_tokens: int | None = None) -> None:
    if chunk_tokens < 8:
        raise UserError(f"--chunk-tokens {chunk_tokens} is too small; use 8 or more")
    if max_tokens is not None and chunk_tokens > max_tokens:
        raise UserError(f"--chunk-tokens {chunk_tokens} is more than the embedder reads "
                        f"({max_tokens} tokens); the rest of each chunk would be ignored",
                        hint=f"Use --chunk-tokens {max_tokens} or less.")
    if not 0 <= overlap < chunk_tokens:
        raise UserError(f"--overlap {overlap} must be at least 0 and less than "
                        f"--chunk-tokens {chunk_tokens}")


class Chunker:
    """Splits documents into chunks of at most `chunk_tokens` tokens, `overlap` shared."""

    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                 overlap: int = DEFAULT_OVERLAP):
        check_settings(chunk_tokens, overlap)
        self.count_tokens, self.chunk_tokens, self.overlap = count_tokens, chunk_tokens, overlap
        self._splitters: dict[str, object] = {}

    def _splitter(self, fmt: str):
        if fmt not in self._splitters:
            from langchain_text_splitters import RecursiveCharacterTextSplitter

            self._splitters[fmt] = RecursiveCharacterTextSplitter(
                separators=_MARKDOWN if fmt == "markdown" else _PROSE, is_separator_regex=True,
                keep_separator="end",
                chunk_size=self.chunk_tokens, chunk_overlap=self.overlap,
                length_function=self.count_tokens, strip_whitespace=True)
        return self._splitters[fmt]

    def pieces(self, doc: Document) -> list[str]:
        text = doc.text.strip()
        if not text:
            return []
        # Most short documents fit whole: one count instead of one per sentence.
        if self.count_tokens(text) <= self.chunk_tokens:
            return [text]
        return [p for p in self._splitter(str(doc.metadata.get("format", "")))
                .split_text(doc.text) if p.strip()]

    def split(self, doc: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        seen: dict[str, int] = {}
        search_from = 0
        for index, piece in enumerate(self.pieces(doc)):
            start = doc.text.find(piece, search_from)
            if start < 0:   # the splitter only strips and cuts, but never trust a find blindly
                start = max(doc.text.find(piece), 0)
            search_from = start + 1
            occurrence = seen.get(piece, 0)
            seen[piece] = occurrence + 1
            meta = {**doc.metadata, "source": doc.source, "file": doc.file, "title": doc.title,
                    "chunk": index, "start": start, "end": start + len(piece)}
            if doc.page_starts:
                meta["page"] = sum(1 for s in doc.page_starts if s <= start)
            chunks.append(Chunk(chunk_id(doc.source, piece, occurrence), piece, meta))
        return chunks
