"""Evaluation datasets: one `Case` record, and loaders for the formats people already have.

Formats: the project's JSONL, SQuAD-format JSON (SQuAD, XQuAD), Lost-in-the-Middle multi-document
QA (`.jsonl.gz`) and BEIR (queries + qrels). A bad record never stops loading: it becomes a
`BadRecord` naming its line (or JSON path) and reason, and the caller decides to skip or stop.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import typing
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from promptkit.errors import ConfigError, UserError
from promptkit.paths import PROJECT_ROOT
from promptkit.safeparse import loads_json

# The project's own datasets (source checkout layout).
PROJECT_DATASETS_DIR = PROJECT_ROOT / "eval" / "datasets"


@dataclass
class Case:
    """One question to ask, with what counts as a right answer and right evidence."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    gold_ids: list[str] = field(default_factory=list)
    # Passages that come with the case (Lost in the Middle, SQuAD): [{"id", "title", "text"}].
    contexts: list[dict] | None = None
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BadRecord:
    """A record the loader refused, and where it sits in the file."""

    path: str
    reason: str
    line: int | None = None
    where: str | None = None  # JSON path for formats without meaningful lines (SQuAD)

    def __str__(self) -> str:
        loc = f"line {self.line}" if self.line is not None else (self.where or "?")
        return f"{self.path}:{loc}: {self.reason}"


@dataclass
class Dataset:
    path: str
    format: str
    cases: list[Case]
    errors: list[BadRecord] = field(default_factory=list)
    content_hash: str = ""

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def error_report(self, limit: int = 20) -> str:
        lines = [str(e) for e in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"... and {len(self.errors) - limit} more")
        return "\n".join(lines)

    def raise_on_errors(self) -> None:
        """Stop with every bad record listed (used before any model call is spent)."""
        if not self.errors:
            return
        first = self.errors[0]
        raise ConfigError(
            f"{len(self.errors)} bad record(s) in the dataset:\n{self.error_report()}",
            path=self.path, line=first.line,
            hint="Fix these records, or run with --on-bad-lines skip to leave them out.")


# ---------------------------------------------------------------- project JSONL

class ContextRecord(BaseModel):
    """A passage that comes with a case; `id` and `title` are optional."""

    id: str | int | None = None
    title: str | None = None
    text: str


class DatasetRecord(BaseModel):
    """One line of a dataset JSONL file: a question, what counts as right, and the evidence."""

    # The loader checks records with plain code (a bad line is reported, never raised) against
    # the key types derived from this model below; the model gives the JSON Schema.
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"\S", description="unique; runs are paired by it")
    question: str = Field(pattern=r"\S")
    answers: list[str] = Field(description="reference answers; may be empty for retrieval-only "
                                           "sets")
    gold_ids: list[str] = Field(default_factory=list,
                                description="ids of the chunks that hold the answer")
    gold_docs: list[str] = Field(default_factory=list,
                                 description="file names of the documents that hold the answer")
    contexts: list[str | ContextRecord] = Field(
        default_factory=list, description="passages that come with the case; they replace "
                                          "retrieval")
    language: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


def _top_type(annotation: Any) -> type:
    return typing.get_origin(annotation) or annotation


# The loader's view of DatasetRecord: key -> the Python type its value must have.
_REQUIRED = {name: _top_type(f.annotation) for name, f in DatasetRecord.model_fields.items()
             if f.is_required()}
_OPTIONAL = {name: _top_type(f.annotation) for name, f in DatasetRecord.model_fields.items()
             if not f.is_required()}
_TYPE_NAMES = {str: "a string", list: "a list", dict: "an object"}


def _shape_problem(obj: object) -> str | None:
    """Why a parsed JSONL record does not have the project's shape, or None."""
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    for key in obj:
        if key not in _REQUIRED and key not in _OPTIONAL:
            close = difflib.get_close_matches(key, [*_REQUIRED, *_OPTIONAL], n=1)
            hint = (f" (did you mean '{close[0]}'?)" if close
                    else " (put extra fields under 'metadata')")
            return f"unknown field '{key}'{hint}"
    missing = [key for key in _REQUIRED if key not in obj]
    if missing:
        return f"missing field '{missing[0]}'"
    for key, typ in {**_REQUIRED, **_OPTIONAL}.items():
        if key in obj and not isinstance(obj[key], typ):
            return f"field '{key}' must be {_TYPE_NAMES[typ]}, got {type(obj[key]).__name__}"
    for key in ("id", "question"):
        if not obj[key].strip():
            return f"field '{key}' is empty"
    for key in ("answers", "gold_ids", "gold_docs"):
        if any(not isinstance(a, str) for a in obj.get(key, [])):
            return f"field '{key}' must be a list of strings"
    return None


def _check_record(obj: object) -> tuple[Case | None, str | None]:
    """Validate one parsed JSONL record; return the case or the reason it is refused."""
    why = _shape_problem(obj)
    if why:
        return None, why
    contexts, why = _contexts(obj.get("contexts"), obj["id"])
    if why:
        return None, why
    metadata = dict(obj.get("metadata") or {})
    if "language" in obj:
        metadata["language"] = obj["language"]
    # Chunk ids are exact; document names (gold_docs) are matched against the source of each
    # retrieved chunk, which scoring does when the case says its gold level is "doc".
    if "gold_ids" in obj:
        gold = list(obj["gold_ids"])
        if "gold_docs" in obj:
            metadata["gold_docs"] = list(obj["gold_docs"])
    else:
        gold = list(obj.get("gold_docs", []))
        if gold:
            metadata["gold_level"] = "doc"
    return Case(id=obj["id"], question=obj["question"], answers=list(obj["answers"]),
                gold_ids=gold, contexts=contexts, metadata=metadata), None


def _contexts(raw: list | None, case_id: str) -> tuple[list[dict] | None, str | None]:
    if raw is None:
        return None, None
    out = []
    for i, c in enumerate(raw):
        if isinstance(c, str):
            out.append({"id": f"{case_id}:ctx{i}", "title": "", "text": c})
        elif isinstance(c, dict) and isinstance(c.get("text"), str):
            out.append({"id": str(c.get("id", f"{case_id}:ctx{i}")),
                        "title": str(c.get("title", "")), "text": c["text"]})
        else:
            return None, f"contexts[{i}] must be a string or an object with a 'text' string"
    return out, None


def load_jsonl(path: Path) -> Dataset:
    """The project's format: one JSON object per line (blank lines are allowed)."""
    cases, errors, seen = [], [], {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = loads_json(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            errors.append(BadRecord(str(path), f"invalid JSON ({_why(exc)})", line=lineno))
            continue
        case, why = _check_record(obj)
        if case is None:
            errors.append(BadRecord(str(path), why, line=lineno))
        elif case.id in seen:
            errors.append(BadRecord(str(path), f"duplicate id '{case.id}' (first at line "
                                               f"{seen[case.id]})", line=lineno))
        else:
            seen[case.id] = lineno
            cases.append(case)
    return Dataset(str(path), "jsonl", cases, errors, file_hash(path))


def from_records(records, *, name: str = "<in memory>") -> Dataset:
    """A dataset from Python objects: `Case`s or dicts in the JSONL shape (checked the same way)."""
    cases, errors, seen = [], [], set()
    for i, rec in enumerate(records, start=1):
        case, why = (rec, None) if isinstance(rec, Case) else _check_record(rec)
        if case is None:
            errors.append(BadRecord(name, why, where=f"record {i}"))
        elif case.id in seen:
            errors.append(BadRecord(name, f"duplicate id '{case.id}'", where=f"record {i}"))
        else:
            seen.add(case.id)
            cases.append(case)
    blob = json.dumps([c.to_dict() for c in cases], sort_keys=True, default=str).encode()
    return Dataset(name, "records", cases, errors, hashlib.sha256(blob).hexdigest())


# ---------------------------------------------------------------- SQuAD / XQuAD

def load_squad(path: Path) -> Dataset:
    """SQuAD-format JSON ({"data": [{"title", "paragraphs": [{"context", "qas"}]}]})."""
    try:
        doc = loads_json(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", path=str(path), line=exc.lineno,
                          hint="A SQuAD-format file is one JSON document with a 'data' list."
                          ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ConfigError("not SQuAD format: expected an object with a 'data' list",
                          path=str(path), field="data")
    cases, errors, seen = [], [], set()
    for ai, article in enumerate(doc["data"]):
        title = str(article.get("title", "")) if isinstance(article, dict) else ""
        paragraphs = article.get("paragraphs", []) if isinstance(article, dict) else []
        for pi, para in enumerate(paragraphs):
            ctx = {"id": f"{title or ai}#{pi}", "title": title, "text": para.get("context", "")}
            for qi, qa in enumerate(para.get("qas", [])):
                where = f"data[{ai}].paragraphs[{pi}].qas[{qi}]"
                case, why = _squad_case(qa, ctx, title)
                if case is None:
                    errors.append(BadRecord(str(path), why, where=where))
                elif case.id in seen:
                    errors.append(BadRecord(str(path), f"duplicate id '{case.id}'", where=where))
                else:
                    seen.add(case.id)
                    cases.append(case)
    return Dataset(str(path), "squad", cases, errors, file_hash(path))


def _squad_case(qa: object, ctx: dict, title: str) -> tuple[Case | None, str | None]:
    if not isinstance(qa, dict):
        return None, "question entry is not an object"
    if not isinstance(qa.get("id"), str) or not isinstance(qa.get("question"), str):
        return None, "missing 'id' or 'question' string"
    answers = []
    for a in qa.get("answers", []):  # SQuAD keeps every annotator's answer; duplicates add nothing
        text = a.get("text") if isinstance(a, dict) else None
        if isinstance(text, str) and text not in answers:
            answers.append(text)
    impossible = bool(qa.get("is_impossible", False))
    if not answers and not impossible:
        return None, "no answers"
    meta = {"title": title, "is_impossible": impossible} if impossible else {"title": title}
    return Case(qa["id"], qa["question"], answers, [ctx["id"]], [dict(ctx)], meta), None


# ---------------------------------------------------------------- Lost in the Middle

def load_litm(path: Path) -> Dataset:
    """Lost-in-the-Middle multi-document QA: {"question", "answers", "ctxs": [... "isgold"]}.

    Records carry no id; the line index is used ("q0000", ...) so the same question keeps its id
    across the files that only move the gold passage, and runs over them pair up case by case.
    """
    cases, errors = [], []
    try:
        for lineno, line in _lines(path):
            if not line.strip():
                continue
            case_id = f"q{lineno - 1:04d}"
            try:
                obj = loads_json(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                errors.append(BadRecord(str(path), f"invalid JSON ({_why(exc)})", line=lineno))
                continue
            case, why = _litm_case(obj, case_id)
            if case is None:
                errors.append(BadRecord(str(path), why, line=lineno))
            else:
                cases.append(case)
    except (EOFError, gzip.BadGzipFile) as exc:  # a truncated download: keep what was read
        errors.append(BadRecord(str(path), f"file is cut short ({exc})", line=None, where="end"))
    return Dataset(str(path), "litm", cases, errors, file_hash(path))


def _litm_case(obj: object, case_id: str) -> tuple[Case | None, str | None]:
    if not isinstance(obj, dict):
        return None, "expected a JSON object"
    for key, typ in (("question", str), ("answers", list), ("ctxs", list)):
        if not isinstance(obj.get(key), typ):
            return None, f"missing or mistyped field '{key}'"
    contexts, gold = [], []
    for i, c in enumerate(obj["ctxs"]):
        if not isinstance(c, dict) or not isinstance(c.get("text"), str):
            return None, f"ctxs[{i}] has no 'text'"
        cid = str(c["id"]) if c.get("id") is not None else f"{case_id}:gold"
        contexts.append({"id": cid, "title": c.get("title", ""), "text": c["text"]})
        if c.get("isgold"):
            gold.append(cid)
    gold_at = next((i for i, c in enumerate(obj["ctxs"]) if c.get("isgold")), None)
    meta = {"gold_position": gold_at}
    answers = [str(a) for a in obj["answers"]]
    return Case(case_id, obj["question"], answers, gold, contexts, meta), None


# ---------------------------------------------------------------- BEIR

def load_beir(path: Path, split: str = "test") -> Dataset:
    """BEIR folder: the judged queries of `split` are the cases, their positive judgments the
    gold ids (read by retrieval.beir, the one BEIR reader; bad lines become bad records)."""
    from promptkit.retrieval.beir import Problems, load

    problems = Problems(collect=True)
    data = load(path, split, problems=problems, corpus=False)
    errors = [BadRecord(p, reason, line=line) for p, line, reason in problems.found]
    cases = [Case(qid, data.texts[qid], [], [d for d, g in rel.items() if g > 0], None,
                  {"qrels": rel, "split": split})
             for qid, rel in data.graded.items()]
    digest = hashlib.sha256(file_hash(path / "queries.jsonl").encode()
                            + file_hash(path / "qrels" / f"{split}.tsv").encode())
    return Dataset(str(path), "beir", cases, errors, digest.hexdigest())


# ---------------------------------------------------------------- dispatch

LOADERS = {"jsonl": load_jsonl, "squad": load_squad, "litm": load_litm, "beir": load_beir}


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "beir"
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return "litm"
    if name.endswith(".json"):
        return "squad"
    return "jsonl"


def load_dataset(path_or_spec: str | Path, *, loader: str | None = None, limit: int | None = None,
                 split: str = "test") -> Dataset:
    """Load a dataset from a path, or a `format:path` spec such as `litm:file.jsonl.gz`."""
    text = str(path_or_spec)
    prefix, sep, rest = text.partition(":")
    if sep and prefix in LOADERS and loader is None:
        loader, text = prefix, rest
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"dataset not found: {path}",
                        hint="Check the path (a config's relative paths are read from the "
                             "config's folder).")
    fmt = loader or detect_format(path)
    if fmt not in LOADERS:
        raise ConfigError(f"unknown dataset loader '{fmt}'", field="loader",
                          hint="Use one of: " + ", ".join(LOADERS))
    ds = load_beir(path, split) if fmt == "beir" else LOADERS[fmt](path)
    if limit is not None:
        ds.cases = ds.cases[:limit]
    return ds


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Numbered raw lines; bytes so that one badly encoded line is one bad record, not a crash."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        yield from enumerate(fh, start=1)


def _why(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg}, column {exc.colno}"
    return "not UTF-8 text"


def file_hash(path: Path) -> str:
    """sha256 of a file, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
