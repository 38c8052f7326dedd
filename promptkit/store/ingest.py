"""Incremental, resumable ingestion of files into a collection.

How a re-run knows what is already there, from Chroma alone (so it works with a server too):
- chunk ids hash (source, text): an unchanged chunk keeps its id and is never re-embedded;
- when every chunk of a file is stored and its stale chunks are gone, the file's first chunk
  gets a marker (`file_hash` = fingerprint of bytes + chunk settings, `file_chunks` = count).
  A file whose marker matches is skipped without reading it further than its hash.
A run killed at any point leaves no marker for the file it was in, so the next run redoes that
file: chunks already stored are kept, missing ones added, stale ones deleted.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from promptkit.corpus.chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP,
    Chunk,
    Chunker,
    check_settings,
)
from promptkit.corpus.documents import Document, Skip, SkipFile
from promptkit.corpus.files import list_files, missing_paths, under
from promptkit.corpus.loaders import load_file
from promptkit.errors import UserError
from promptkit.store.collection import (
    META_CHUNK_TOKENS,
    META_GENERATION,
    META_OVERLAP,
    Collection,
    backend_errors,
)
from promptkit.store.freshness import mark_written
from promptkit.store.lock import writer_lock

FINGERPRINT_VERSION = "1"   # bump when loaders or chunking change what a file turns into
FLUSH = 512                 # chunks gathered before one existence check, embed and add
LARGE_FILE_BYTES = 20_000_000   # files read whole from this size on get a memory note


@dataclass
class IngestProgress:
    files_done: int
    files_total: int
    chunks_done: int        # chunks seen so far (added + unchanged + updated)
    chunks_added: int
    file: str | None


@dataclass
class IngestReport:
    collection: str
    embedder: str
    chunk_tokens: int
    overlap: int
    files: int = 0               # files read (changed or new)
    files_unchanged: int = 0     # files skipped because their marker matched
    added: int = 0               # chunks embedded and stored
    unchanged: int = 0           # chunks already stored as they are
    updated: int = 0             # chunks already stored whose metadata (index, offsets) changed
    removed: int = 0             # chunks of changed, deleted or now-skipped files
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def __str__(self) -> str:
        return (f"{self.added} chunks added, {self.unchanged} unchanged, {self.updated} updated, "
                f"{self.removed} removed; {self.files} files read, {self.files_unchanged} "
                f"unchanged; {len(self.skipped)} skipped ({self.seconds:.1f} s)")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["skipped"] = [{"path": s.path, "reason": s.reason} for s in self.skipped]
        return out


class IngestSkipped(UserError):
    """--strict: some files were skipped (the others were ingested)."""

    def __init__(self, report: IngestReport):
        self.report = report
        lines = "\n".join(f"  {s}" for s in report.skipped[:20])
        more = f"\n  ... and {len(report.skipped) - 20} more" if len(report.skipped) > 20 else ""
        super().__init__(f"{len(report.skipped)} file(s) or record(s) skipped:\n{lines}{more}",
                         hint="Fix or remove them, or drop --strict to accept the skips.")


class _RecordIds:
    """Notes a JSONL `_id`/`id` given again with different text (both records are kept)."""

    MAX_NOTES = 5   # per file; a file full of reused ids gets a count, not a thousand lines

    def __init__(self, path: Path, notes: list[str]):
        self.path, self.notes = path, notes
        self.first: dict[str, tuple[int, bytes]] = {}   # id -> (line, digest of its text)
        self.reused = 0

    def check(self, doc: Document) -> None:
        if doc.metadata.get("format") != "jsonl":
            return
        key, line = str(doc.metadata.get("doc_id")), doc.metadata.get("line")
        digest = hashlib.blake2b(doc.text.encode("utf-8"), digest_size=8).digest()
        if key not in self.first:
            self.first[key] = (line, digest)
            return
        if self.first[key][1] == digest:
            return   # the same record twice: stored once, nothing to say
        self.reused += 1
        if self.reused <= self.MAX_NOTES:
            self.notes.append(f"{self.path}:{line}: id '{key}' was already used on line "
                              f"{self.first[key][0]} for different text; both are kept, as "
                              "two documents with one source name")
        elif self.reused == self.MAX_NOTES + 1:
            self.notes.append(f"{self.path}: more ids reused for different text (only the "
                              f"first {self.MAX_NOTES} are listed)")


def fingerprint(path: Path, chunk_tokens: int, overlap: int) -> str:
    h = hashlib.sha256(f"{FINGERPRINT_VERSION}\0{chunk_tokens}\0{overlap}\0".encode())
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class _FileState:
    count: int = 0
    markers: list[tuple[str, str, int]] = field(default_factory=list)   # (id, hash, n)


def _scan(coll: Collection) -> dict[str, _FileState]:
    """Per stored file: its chunk count and marker(s). Memory grows with files, not chunks."""
    state: dict[str, _FileState] = {}
    for page in coll.iter_rows(("metadatas",)):
        for id_, meta in zip(page["ids"], page["metadatas"], strict=True):
            meta = meta or {}
            st = state.setdefault(str(meta.get("file", "")), _FileState())
            st.count += 1
            if int(meta.get("file_chunks", -1)) >= 0:
                st.markers.append((id_, str(meta.get("file_hash", "")), int(meta["file_chunks"])))
    return state


def _resolve_settings(coll: Collection, chunk_tokens: int | None,
                      overlap: int | None) -> tuple[int, int]:
    rec_tokens, rec_overlap = coll.chunk_settings()
    max_tokens = coll.embedder.max_tokens
    tokens = chunk_tokens if chunk_tokens is not None else \
        rec_tokens or min(DEFAULT_CHUNK_TOKENS, max_tokens)
    ovl = overlap if overlap is not None else (rec_overlap if rec_overlap is not None
                                               else min(DEFAULT_OVERLAP, tokens // 4))
    if rec_tokens is not None and (tokens, ovl) != (rec_tokens, rec_overlap) and coll.count():
        raise UserError(
            f"collection '{coll.name}' was chunked with --chunk-tokens {rec_tokens} "
            f"--overlap {rec_overlap}; mixing chunk sizes in one collection is not supported",
            hint=f"Drop the options to reuse them, ingest into another --collection, or run "
                 f"`promptkit collections delete {coll.name}` first.")
    check_settings(tokens, ovl, max_tokens)
    return tokens, ovl


class _Run:
    """State of one ingest run: the report, progress, and the per-file steps."""

    def __init__(self, coll: Collection, report: IngestReport, chunker: Chunker,
                 files_total: int, progress: Callable | None):
        self.coll, self.report, self.chunker = coll, report, chunker
        self.col = coll.chroma
        self.embedder = coll.embedder
        self.files_total, self.files_done = files_total, 0
        self.progress = progress
        self.seen: set[str] = set()
        self._add_limit: int | None = None

    def tick(self, file: str | None) -> None:
        if self.progress:
            r = self.report
            self.progress(IngestProgress(self.files_done, self.files_total,
                                         r.added + r.unchanged + r.updated, r.added, file))

    def file(self, path: Path, st: _FileState | None) -> None:
        key = str(path)
        try:
            fp = fingerprint(path, self.chunker.chunk_tokens, self.chunker.overlap)
        except OSError as exc:
            self.report.skipped.append(Skip(key, f"cannot read: {exc.strerror or exc}"))
            return
        self.seen.add(key)
        if st and len(st.markers) == 1 and st.markers[0][1] == fp and st.markers[0][2] == st.count:
            self.report.unchanged += st.count
            self.report.files_unchanged += 1
            return
        for marker_id, _, _ in (st.markers if st else []):
            # Invalidate first: if this run dies half-way, the next one must redo the file.
            self.col.update(ids=[marker_id], metadatas=[{"file_hash": "", "file_chunks": -1}])
        try:
            produced = self._chunks_of(path)
        except SkipFile as exc:
            self.report.skipped.append(Skip(key, exc.reason))
            self.seen.discard(key)     # its stored chunks go with the deleted files
            return
        self.report.files += 1
        if not produced:
            self.report.skipped.append(Skip(key, "no text to ingest"))
            self.seen.discard(key)
            return
        keep = set(produced)
        stale = [i for i in self.col.get(where={"file": key}, include=[])["ids"] if i not in keep]
        if stale:
            self.col.delete(ids=stale)
            self.report.removed += len(stale)
        self.col.update(ids=[produced[0]], metadatas=[{"file_hash": fp, "file_chunks": len(keep)}])

    def _chunks_of(self, path: Path) -> list[str]:
        produced: list[str] = []
        known: set[str] = set()
        buffer: list[Chunk] = []
        self._note_size(path)
        records = _RecordIds(path, self.report.notes)
        for item in load_file(path):
            if isinstance(item, Skip):
                self.report.skipped.append(item)
                continue
            records.check(item)
            self._note_encoding(item, path)
            for chunk in self.chunker.split(item):
                if chunk.id in known:
                    continue    # a JSONL id repeated with the same text: one chunk
                known.add(chunk.id)
                produced.append(chunk.id)
                buffer.append(chunk)
                if len(buffer) >= FLUSH:
                    self._flush(buffer)
                    buffer = []
        self._flush(buffer)
        return produced

    def _note_size(self, path: Path) -> None:
        # Text formats are read, decoded and split whole: memory peaks at roughly 20x the
        # file's size (a 50 MB text file: about 1 GB). JSONL is read a line at a time.
        size = path.stat().st_size
        if size >= LARGE_FILE_BYTES and path.suffix.lower() != ".jsonl":
            self.report.notes.append(
                f"{path}: {size / 1e6:.0f} MB is read whole; memory peaks at about "
                f"{size * 20 / 1e9:.1f} GB while it is split (split the file, or use JSONL, "
                "to lower the peak)")

    def _note_encoding(self, doc: Document, path: Path) -> None:
        enc = doc.metadata.get("encoding")
        note = f"{path}: not UTF-8, decoded as {enc}"
        if enc in ("cp1252", "latin-1") and note not in self.report.notes:
            self.report.notes.append(note)

    def _flush(self, buffer: list[Chunk]) -> None:
        if not buffer:
            return
        metas = {c.id: {**c.metadata, "file_hash": "", "file_chunks": -1} for c in buffer}
        got = self.col.get(ids=list(metas), include=["metadatas"])
        stored = dict(zip(got["ids"], got["metadatas"], strict=True))
        upd_ids, upd_metas = [], []
        for id_, old in stored.items():
            old = old or {}
            if old != metas[id_]:
                upd_ids.append(id_)
                # Chroma merges metadata on update; None removes keys the new version lacks.
                upd_metas.append({**{k: None for k in old if k not in metas[id_]}, **metas[id_]})
        if upd_ids:
            self.col.update(ids=upd_ids, metadatas=upd_metas)
        self.report.updated += len(upd_ids)
        self.report.unchanged += len(stored) - len(upd_ids)
        new = sorted((c for c in buffer if c.id not in stored), key=lambda c: -len(c.text))
        if not new:
            self.tick(None)
            return
        vectors = []
        step = max(1, self.embedder.batch_size)
        for i in range(0, len(new), step):
            vectors.extend(self.embedder.embed_documents([c.text for c in new[i:i + step]]))
            self.tick(None)
        add_max = self._add_max()
        for i in range(0, len(new), add_max):
            part = new[i:i + add_max]
            self.col.add(ids=[c.id for c in part], embeddings=vectors[i:i + add_max],
                         documents=[c.text for c in part], metadatas=[metas[c.id] for c in part])
            self.report.added += len(part)
        self.tick(None)

    def _add_max(self) -> int:
        """Chroma's largest accepted add (asked once: over HTTP it is a request)."""
        if self._add_limit is None:
            from promptkit.store.client import client_for

            self._add_limit = max(1, client_for(self.coll.location).get_max_batch_size())
        return self._add_limit


def check_request(paths: Sequence[str | Path], chunk_tokens: int | None = None,
                  overlap: int | None = None) -> None:
    """What can be checked before a collection is opened or created: the paths and numbers."""
    if not paths:
        raise UserError("nothing to ingest: give at least one file or folder")
    missing = missing_paths(paths)
    if missing:
        raise UserError(f"no such file or folder: {', '.join(missing)}; nothing was ingested",
                        hint="Check the path (relative paths start from the current folder, "
                             f"{Path.cwd()}).")
    if chunk_tokens is not None:
        check_settings(chunk_tokens, overlap if overlap is not None else 0)
    elif overlap is not None and overlap < 0:
        raise UserError(f"--overlap {overlap} must be at least 0")


def ingest(coll: Collection, paths: Sequence[str | Path], *, chunk_tokens: int | None = None,
           overlap: int | None = None, include: Sequence[str] = (), exclude: Sequence[str] = (),
           strict: bool = False, progress: Callable | None = None) -> IngestReport:
    """See Collection.ingest."""
    check_request(paths, chunk_tokens, overlap)
    started = time.perf_counter()
    listing = list_files(paths, include, exclude)
    with writer_lock(coll.location, coll.name), backend_errors(coll.location):
        coll.refresh()   # write on top of what other processes wrote before us, not a stale view
        tokens, ovl = _resolve_settings(coll, chunk_tokens, overlap)
        report = IngestReport(coll.name, coll.embedder.name, tokens, ovl,
                              skipped=list(listing.skipped))
        if coll.chunk_settings() != (tokens, ovl):
            coll.update_recorded(**{META_CHUNK_TOKENS: tokens, META_OVERLAP: ovl})
        run = _Run(coll, report, Chunker(coll.embedder.count_tokens, tokens, ovl),
                   len(listing.files), progress)
        state = _scan(coll)
        for path in listing.files:
            run.tick(str(path))
            run.file(path, state.get(str(path)))
            run.files_done += 1
            run.tick(str(path))
        for gone in sorted(f for f in state if f not in run.seen and under(f, listing.roots)):
            ids = coll.chroma.get(where={"file": gone}, include=[])["ids"]
            if ids:
                coll.chroma.delete(ids=ids)
                report.removed += len(ids)
        if report.changed:
            # Readers in other processes compare this number to notice they are stale.
            gen = int(coll.recorded.get(META_GENERATION, 0)) + 1
            coll.update_recorded(**{META_GENERATION: gen})
            mark_written(coll.location, coll.chroma)
    report.seconds = time.perf_counter() - started
    if strict and report.skipped:
        raise IngestSkipped(report)
    return report
