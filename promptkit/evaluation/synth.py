"""Test sets from your own corpus: questions with short answers quoted from a chunk.

For each chunk (documents taken in turn, so the set spreads over the corpus) a model writes a
few question/answer pairs (prompt synth-questions@1, JSON held to its schema where the backend
can). Filters keep only good ones, each counted in the summary:

- `unparsable`: the reply did not fit the schema;
- `malformed`: not a question (fewer than 4 words, or no closing "?"), or an empty answer;
- `answer_too_long`: more than `max_answer_words` words (answers are short spans);
- `not_verbatim`: the answer is not a span of its chunk (whitespace and case aside; the kept
  answer is the chunk's own spelling);
- `answer_in_question`: the question gives the answer away (the answer, accent- and
  case-folded, is in it, or all of the answer's content words are);
- `duplicate`: a near-duplicate of a question already kept (content-word Jaccard >= 0.7);
- `roundtrip` (optional, `roundtrip_k`): retrieval does not bring the chunk's document into the
  top k for the question (BM25 over the chunks for a folder; the collection's own search).

Output is the project's dataset JSONL (`gold_docs` = the chunk's file name), ready for
`promptkit eval run` and suites. It is append-only and resumable: a log beside it
(`<out>.progress.jsonl`) records every chunk done, and a rerun skips those; model replies come
from the response cache when the same chunk is asked again.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptkit.errors import UserError
from promptkit.retrieval.bm25 import fold
from promptkit.safeparse import loads_json

PROMPT = "synth-questions@1"
FILTERS = ("unparsable", "malformed", "answer_too_long", "not_verbatim", "answer_in_question",
           "duplicate", "roundtrip")
LANGUAGE_LINE = {"en": "Write the questions in English.",
                 "es": "Escribe las preguntas en español."}
DUPLICATE_JACCARD = 0.7
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class SourceChunk:
    id: str
    text: str
    doc: str        # file name: the dataset's gold document
    title: str
    language: str


@dataclass
class SynthSummary:
    requested: int
    kept: int = 0
    candidates: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    documents: int = 0
    removed: Counter = field(default_factory=Counter)
    resumed_kept: int = 0
    output: str = ""

    def to_dict(self) -> dict:
        return {"requested": self.requested, "kept": self.kept, "candidates": self.candidates,
                "chunks_done": self.chunks_done, "chunks_total": self.chunks_total,
                "documents": self.documents,
                "removed": {f: self.removed.get(f, 0) for f in FILTERS},
                "resumed_kept": self.resumed_kept, "output": self.output}


# ---------------------------------------------------------------- text helpers

def _content(text: str) -> set[str]:
    from promptkit.retrieval.bm25 import tokenize

    return set(tokenize(text))


def verbatim_span(answer: str, chunk: str) -> str | None:
    """The chunk's own text for `answer` when it is a span of it (whitespace runs and case
    aside, not inside a word), else None."""
    words = answer.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.search(rf"(?<!\w){pattern}(?!\w)", chunk, re.IGNORECASE)
    return m.group(0) if m else None


def gives_away(question: str, answer: str) -> bool:
    """The question contains the answer (folded), or every content word of it."""
    q = f" {' '.join(_WORD.findall(fold(question)))} "
    a = " ".join(_WORD.findall(fold(answer)))
    if a and f" {a} " in q:
        return True
    words = _content(answer)
    return bool(words) and words <= _content(question)


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


# ---------------------------------------------------------------- sources

def load_chunks(target: str | Path, *, chunk_tokens: int = 200, overlap: int = 0,
                chroma_url: str | None = None) -> tuple[list[SourceChunk], Any]:
    """Chunks of a corpus folder/file, or of a collection when `target` is not a path; with the
    searcher the round-trip check uses (BM25 over the chunks, or the collection)."""
    from promptkit.corpus.language import guess_language

    path = Path(target).expanduser()
    if path.exists():
        chunks = list(_folder_chunks(path, chunk_tokens, overlap))
        if not chunks:
            raise UserError(f"no text found in {path}",
                            hint="Point at a folder or file of .md, .txt, .html, .pdf or .jsonl.")
        return chunks, _Bm25Search(chunks)
    from promptkit.store import open_collection

    # Neither a path nor an existing collection: say so, and leave no empty collection behind.
    coll = open_collection(str(target), chroma_url=chroma_url, create=False)
    chunks = []
    for page in coll.iter_rows(include=("documents", "metadatas")):
        for cid, text, meta in zip(page["ids"], page["documents"], page["metadatas"],
                                   strict=True):
            meta = meta or {}
            source = str(meta.get("source") or meta.get("file") or cid)
            chunks.append(SourceChunk(cid, text or "", Path(source).name,
                                      str(meta.get("title") or ""),
                                      guess_language(text or "", "en")))
    if not chunks:
        raise UserError(f"collection '{target}' holds no chunks",
                        hint=f"Ingest documents first: promptkit ingest DOCS -c {target}")
    return chunks, _CollectionSearch(coll)


def _folder_chunks(path: Path, chunk_tokens: int, overlap: int) -> Iterator[SourceChunk]:
    from promptkit.corpus import Chunker, list_files, load_file
    from promptkit.corpus.documents import Document, SkipFile
    from promptkit.corpus.language import guess_language
    from promptkit.llm.openai_backend import estimate_tokens

    # Sized by a word-piece estimate: no embedder to load just to cut the text.
    chunker = Chunker(estimate_tokens, chunk_tokens, overlap)
    for file in list_files([path]).files:
        try:
            items = list(load_file(file))
        except SkipFile:
            continue
        for doc in items:
            if not isinstance(doc, Document):
                continue
            lang = str(doc.metadata.get("lang") or doc.metadata.get("language") or "")
            for chunk in chunker.split(doc):
                yield SourceChunk(chunk.id, chunk.text, Path(doc.file).name, doc.title,
                                  lang or guess_language(chunk.text, "en"))


class _Bm25Search:
    def __init__(self, chunks: Sequence[SourceChunk]):
        from promptkit.retrieval.bm25 import BM25Index

        self.doc_of = {c.id: c.doc for c in chunks}
        self.index = BM25Index([c.id for c in chunks], [c.text for c in chunks])

    def top_docs(self, question: str, k: int) -> list[str]:
        return [self.doc_of[i] for i, _ in self.index.top(question, k)]


class _CollectionSearch:
    def __init__(self, coll):
        self.coll = coll

    def top_docs(self, question: str, k: int) -> list[str]:
        return [Path(str(h.source)).name for h in self.coll.search(question, k=k)]


def spread(chunks: Sequence[SourceChunk], seed: int = 0) -> list[SourceChunk]:
    """Chunks in an order that takes documents in turn (each one's chunks shuffled by `seed`),
    so a small `-n` still covers many documents."""
    rng = random.Random(seed)
    by_doc: dict[str, list[SourceChunk]] = defaultdict(list)
    for c in chunks:
        by_doc[c.doc].append(c)
    queues = []
    for doc in sorted(by_doc):
        items = list(by_doc[doc])
        rng.shuffle(items)
        queues.append(items)
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


# ---------------------------------------------------------------- the generator

ProgressFn = Callable[[int, int, int], None]   # (chunks done, chunks in all, questions kept)


class Synthesizer:
    """Writes, filters and appends questions for `chunks` until `n` are kept."""

    def __init__(self, model=None, *, per_chunk: int = 3, max_answer_words: int = 8,
                 roundtrip_k: int = 0, searcher=None, lang: str | None = None,
                 constrain: bool = True):
        from promptkit.evaluation.judges import Judge

        if lang not in (None, "es", "en"):
            raise UserError(f"--lang must be es or en, got {lang!r}")
        if not 1 <= per_chunk <= 5:
            raise UserError(f"questions per chunk must be 1 to 5, got {per_chunk}")
        if roundtrip_k and searcher is None:
            raise UserError("the round-trip check needs a searcher")
        # The generator is asked like a judge: a pinned prompt and a schema-held reply.
        self.asker = Judge.of(model, constrain=constrain)
        self.per_chunk, self.max_answer_words = per_chunk, max_answer_words
        self.roundtrip_k, self.searcher, self.lang = roundtrip_k, searcher, lang

    def run(self, chunks: Sequence[SourceChunk], n: int, out: str | Path, *, seed: int = 0,
            progress: ProgressFn | None = None) -> SynthSummary:
        out = Path(out)
        log = out.with_name(out.name + ".progress.jsonl")
        summary = SynthSummary(requested=n, output=str(out))
        kept, done = _resume(out, log, summary)
        kept_words = [_content(r["question"]) for r in kept]
        todo = [c for c in spread(chunks, seed)
                if c.id not in done and (self.lang is None or c.language == self.lang)]
        summary.chunks_total = len(todo) + len(done)
        summary.chunks_done = len(done)
        docs = {r["gold_docs"][0] for r in kept}
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as fh_out, log.open("a", encoding="utf-8") as fh_log:
            for chunk in todo:
                if summary.kept >= n:
                    break
                records, removed = self._one(chunk, kept_words, n - summary.kept)
                for rec in records:
                    fh_out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    docs.add(rec["gold_docs"][0])
                fh_out.flush()
                # Logged after its questions are written: a crash in between only re-asks it.
                fh_log.write(json.dumps({"chunk": chunk.id, "kept": len(records),
                                         "removed": removed}) + "\n")
                fh_log.flush()
                summary.kept += len(records)
                summary.candidates += len(records) + sum(removed.values())
                summary.removed.update(removed)
                summary.chunks_done += 1
                if progress:
                    progress(summary.chunks_done, summary.chunks_total, summary.kept)
        summary.documents = len(docs)
        return summary

    def _one(self, chunk: SourceChunk, kept_words: list[set[str]],
             room: int) -> tuple[list[dict], dict[str, int]]:
        lang = self.lang or chunk.language or "en"
        reply = self.asker.ask(PROMPT, {"count": str(self.per_chunk), "passage": chunk.text,
                                        "title": chunk.title or chunk.doc,
                                        "language": LANGUAGE_LINE.get(lang, LANGUAGE_LINE["en"])})
        removed: Counter = Counter()
        if not reply.ok:
            removed["unparsable"] += 1
            return [], dict(removed)
        records = []
        for pair in reply.value["items"]:
            question, answer = " ".join(pair["question"].split()), pair["answer"].strip()
            if len(records) >= room:
                break   # enough: the rest of this reply is not needed
            why, span = self._why_not(question, answer, chunk, kept_words)
            if why:
                removed[why] += 1
                continue
            kept_words.append(_content(question))
            records.append(self._record(chunk, question, span, lang))
        return records, dict(removed)

    def _why_not(self, question: str, answer: str, chunk: SourceChunk,
                 kept_words: list[set[str]]) -> tuple[str | None, str]:
        if len(question.split()) < 4 or not question.rstrip().endswith("?") or not answer:
            return "malformed", ""
        if len(answer.split()) > self.max_answer_words:
            return "answer_too_long", ""
        span = verbatim_span(answer, chunk.text)
        if span is None:
            return "not_verbatim", ""
        if gives_away(question, span):
            return "answer_in_question", ""
        words = _content(question)
        if any(jaccard(words, other) >= DUPLICATE_JACCARD for other in kept_words):
            return "duplicate", ""
        if self.roundtrip_k and chunk.doc not in self.searcher.top_docs(question,
                                                                        self.roundtrip_k):
            return "roundtrip", ""
        return None, span

    def _record(self, chunk: SourceChunk, question: str, answer: str, lang: str) -> dict:
        prompt = self.asker.prompt(PROMPT)
        digest = hashlib.sha256(f"{chunk.id}\0{question}".encode()).hexdigest()[:12]
        return {"id": f"synth-{digest}", "question": question, "answers": [answer],
                "gold_docs": [chunk.doc], "language": lang,
                "metadata": {"chunk_id": chunk.id, "synth": {
                    "model": self.asker.spec, "prompt": f"{prompt.ref}#{prompt.hash[7:19]}",
                    "constrained": self.asker.constrained}}}


def _resume(out: Path, log: Path, summary: SynthSummary) -> tuple[list[dict], set[str]]:
    """Questions already written and chunks already done (from the log, and from the output
    for a chunk whose log line was lost)."""
    kept: list[dict] = []
    if out.is_file():
        for line in out.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    kept.append(loads_json(line))
                except json.JSONDecodeError:
                    raise UserError(f"{out} has a line that is not JSON; it is not a synth "
                                    "output this command can extend",
                                    hint="Write to a new file with -o.") from None
    done = {str(r.get("metadata", {}).get("chunk_id")) for r in kept}
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                done.add(entry["chunk"])
                summary.removed.update(entry.get("removed") or {})
                summary.candidates += entry.get("kept", 0) + sum(
                    (entry.get("removed") or {}).values())
    summary.kept = summary.resumed_kept = len(kept)
    return kept, done


def synthesize(target: str | Path, n: int, out: str | Path, *, model=None,
               lang: str | None = None, per_chunk: int = 3, roundtrip_k: int = 0,
               chunk_tokens: int = 200, seed: int = 0, constrain: bool = True,
               chroma_url: str | None = None, progress: ProgressFn | None = None
               ) -> SynthSummary:
    """`promptkit eval synth` as a function: corpus folder or collection name -> dataset JSONL."""
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    chunks, searcher = load_chunks(target, chunk_tokens=chunk_tokens, chroma_url=chroma_url)
    synth = Synthesizer(model, per_chunk=per_chunk, roundtrip_k=roundtrip_k, searcher=searcher,
                        lang=lang, constrain=constrain)
    return synth.run(chunks, n, out, seed=seed, progress=progress)


__all__ = ["FILTERS", "SourceChunk", "SynthSummary", "Synthesizer", "gives_away", "load_chunks",
           "spread", "synthesize", "verbatim_span"]
