"""What loaders produce: documents to chunk, and skips with the reason a file was left out."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One document: a whole file, or one record of a JSONL file."""

    text: str
    source: str          # unique key: the file's path, or "path#id" for a JSONL record
    file: str            # absolute path of the file it came from
    title: str = ""
    metadata: dict = field(default_factory=dict, hash=False)   # scalar extras (lang, doc_id...)
    page_starts: tuple[int, ...] = ()   # PDF: character offset where each page begins


@dataclass(frozen=True)
class Skip:
    """A file (or a line of one) that was not ingested, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class SkipFile(Exception):
    """Raised inside a loader: this file cannot be ingested, for `reason`."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
