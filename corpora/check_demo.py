#!/usr/bin/env python3
"""Check the demo corpus (corpora/demo/) and its QA sets (eval/datasets/demo-qa*.jsonl).

Standard library only, so it runs before the project's virtualenv exists:

    python3 corpora/check_demo.py                   # validate; exit 1 listing every problem
    python3 corpora/check_demo.py --audit           # also list other docs containing a gold answer
    python3 corpora/check_demo.py --write-manifest  # regenerate the manifest's document list

`check()` returns (problems, summary) so a test can call it directly.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CORPORA = Path(__file__).resolve().parent
DEMO = CORPORA / "demo"
MANIFEST = CORPORA / "manifest.yaml"
DATASETS = CORPORA.parent / "eval" / "datasets"
FULL_QA = DATASETS / "demo-qa.jsonl"
SMALL_QA = DATASETS / "demo-qa.small.jsonl"

LANGS = ("en", "es")
MIN_DOCS = 34
WORDS = (120, 300)  # body words per document (whitespace-separated, title excluded)
MIN_SHARE = 0.4  # each language's share of docs and of QA cases
MIN_CASES = 48
SMALL_CASES = 12
MIN_CROSS = 2  # cross-lingual cases needed in each direction
DIFFICULTIES = ("easy", "medium", "hard")
CASE_KEYS = ("id", "question", "answers", "gold_docs", "language", "metadata")

# Stable kebab-case names with a language suffix: the suffix is the document's language.
DOC_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\.(en|es)\.md$")
CASE_ID = re.compile(r"^demo-\d{3}$")


@dataclass
class Doc:
    name: str
    title: str
    language: str
    words: int
    text: str


def _norm(text: str) -> str:
    """Case-insensitive, whitespace-insensitive form used to find answers in documents."""
    return " ".join(text.casefold().split())


def contains(text: str, answer: str) -> bool:
    """Whether `answer` occurs in `text` as whole words: "8" must not match inside "2018"."""
    pattern = r"(?<!\w)" + re.escape(_norm(answer)) + r"(?!\w)"
    return re.search(pattern, _norm(text)) is not None


def load_docs(problems: list[str]) -> dict[str, Doc]:
    docs: dict[str, Doc] = {}
    if not DEMO.is_dir():
        problems.append(f"{DEMO}: folder missing")
        return docs
    for path in sorted(DEMO.iterdir()):
        m = DOC_NAME.match(path.name)
        # Everything in demo/ gets ingested, so anything that is not a document is a problem.
        if not m or not path.is_file():
            problems.append(f"{path}: not a document name like 'topic-name.en.md' "
                            "(only documents may live in corpora/demo/)")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(f"{path}: not UTF-8")
            continue
        first, _, body = text.partition("\n")
        if not first.startswith("# ") or not first[2:].strip():
            problems.append(f"{path}:1: first line must be a '# Title' line")
            continue
        words = len(body.split())
        if not WORDS[0] <= words <= WORDS[1]:
            problems.append(f"{path}: {words} words, expected {WORDS[0]}-{WORDS[1]}")
        docs[path.name] = Doc(path.name, first[2:].strip(), m.group(1), words, text)
    titles = Counter(d.title for d in docs.values())
    problems += [f"{DEMO}: title used twice: {t!r}" for t, n in titles.items() if n > 1]
    langs = Counter(d.language for d in docs.values())
    if len(docs) < MIN_DOCS:
        problems.append(f"{DEMO}: {len(docs)} documents, expected at least {MIN_DOCS}")
    for lang in LANGS:
        if docs and langs[lang] / len(docs) < MIN_SHARE:
            problems.append(f"{DEMO}: only {langs[lang]} of {len(docs)} documents are '{lang}'")
    return docs


# ---------------------------------------------------------------- manifest

_ENTRY = re.compile(r"^\s*-\s*file:\s*(\S+)\s*$")
_FIELD = re.compile(r"^\s+(title|language):\s*(.+?)\s*$")


def manifest_entries(text: str) -> tuple[list[dict], list[str]]:
    """The `documents:` list of the manifest, read with a tiny parser (no PyYAML here)."""
    entries: list[dict] = []
    problems: list[str] = []
    lines = text.splitlines()
    try:
        start = lines.index("documents:") + 1
    except ValueError:
        return [], [f"{MANIFEST}: no top-level 'documents:' line"]
    for lineno, line in enumerate(lines[start:], start=start + 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := _ENTRY.match(line):
            entries.append({"file": m.group(1), "line": lineno})
        elif (m := _FIELD.match(line)) and entries:
            value = m.group(2)
            # Titles are written as JSON-compatible double-quoted strings (valid YAML too).
            entries[-1][m.group(1)] = json.loads(value) if value.startswith('"') else value
        else:
            problems.append(f"{MANIFEST}:{lineno}: unexpected line in 'documents:' list")
    return entries, problems


def check_manifest(docs: dict[str, Doc], problems: list[str]) -> None:
    if not MANIFEST.is_file():
        problems.append(f"{MANIFEST}: missing (write its header, then run --write-manifest)")
        return
    text = MANIFEST.read_text(encoding="utf-8")
    for key in ("licence: Apache-2.0", "chunk_tokens:", "overlap:", "embedder:"):
        if key not in text:
            problems.append(f"{MANIFEST}: no '{key}' entry")
    entries, errs = manifest_entries(text)
    problems += errs
    listed = {e["file"]: e for e in entries}
    for name in sorted(set(docs) - set(listed)):
        problems.append(f"{MANIFEST}: {name} not listed (run --write-manifest)")
    for name, e in listed.items():
        where = f"{MANIFEST}:{e['line']}"
        if name not in docs:
            problems.append(f"{where}: lists {name}, which is not in {DEMO}")
        elif e.get("title") != docs[name].title or e.get("language") != docs[name].language:
            problems.append(f"{where}: title/language of {name} differ from the document "
                            "(run --write-manifest)")


def write_manifest(docs: dict[str, Doc]) -> None:
    """Keep the manifest's hand-written header; regenerate the list after `documents:`."""
    text = MANIFEST.read_text(encoding="utf-8")
    head, sep, _ = text.partition("\ndocuments:\n")
    if not sep:
        sys.exit(f"{MANIFEST}: no top-level 'documents:' line to write after")
    out = [head, "", "documents:"]
    for d in sorted(docs.values(), key=lambda d: (d.language, d.name)):
        out += [f"  - file: {d.name}",
                f"    title: {json.dumps(d.title, ensure_ascii=False)}",
                f"    language: {d.language}"]
    MANIFEST.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote {len(docs)} documents to {MANIFEST}")


# ---------------------------------------------------------------- QA sets

def load_cases(path: Path, docs: dict[str, Doc], problems: list[str]) -> list[dict]:
    if not path.is_file():
        problems.append(f"{path}: missing")
        return []
    cases, seen = [], {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON ({exc.msg})")
            continue
        why = case_problem(case, docs)
        if why:
            problems.append(f"{where}: {why}")
            continue
        if case["id"] in seen:
            first = seen[case["id"]]
            problems.append(f"{where}: duplicate id {case['id']} (first at line {first})")
            continue
        seen[case["id"]] = lineno
        cases.append(case)
    return cases


def case_problem(case: object, docs: dict[str, Doc]) -> str | None:
    """Why one QA record is unusable, or None when it is fine."""
    if not isinstance(case, dict) or sorted(case) != sorted(CASE_KEYS):
        keys = sorted(case) if isinstance(case, dict) else type(case).__name__
        return f"expected exactly the fields {', '.join(CASE_KEYS)}; got {keys}"
    if not isinstance(case["id"], str) or not CASE_ID.match(case["id"]):
        return f"id {case['id']!r} is not like 'demo-001'"
    if not isinstance(case["question"], str) or not case["question"].strip():
        return "question is empty"
    answers, gold = case["answers"], case["gold_docs"]
    if (not isinstance(answers, list) or not answers
            or not all(isinstance(a, str) and a.strip() for a in answers)):
        return "answers must be a non-empty list of non-empty strings"
    if len(set(answers)) != len(answers):
        return "answers has duplicates"
    if not isinstance(gold, list) or not gold or not all(isinstance(g, str) for g in gold):
        return "gold_docs must be a non-empty list of file names"
    missing = [g for g in gold if g not in docs]
    if missing:
        return f"gold_docs not in {DEMO}: {', '.join(missing)}"
    if case["language"] not in LANGS:
        return f"language must be one of {LANGS}"
    meta = case["metadata"]
    if not isinstance(meta, dict) or not isinstance(meta.get("topic"), str):
        return "metadata must be an object with a 'topic' string"
    if meta.get("difficulty") not in DIFFICULTIES:
        return f"metadata.difficulty must be one of {DIFFICULTIES}"
    if meta.get("cross_lingual") is not is_cross_lingual(case, docs):
        return ("metadata.cross_lingual must be true exactly when no gold doc is in the "
                "question's language")
    # The first answer is the canonical span: metrics compare model output against it, so it
    # must be quoted literally from the evidence. Later answers are accepted variants.
    if not any(contains(docs[g].text, answers[0]) for g in gold):
        return f"first answer {answers[0]!r} does not appear in any gold doc"
    return None


def is_cross_lingual(case: dict, docs: dict[str, Doc]) -> bool:
    return all(docs[g].language != case["language"] for g in case["gold_docs"])


def check_sets(full: list[dict], small: list[dict], docs: dict[str, Doc],
               problems: list[str]) -> None:
    if len(full) < MIN_CASES:
        problems.append(f"{FULL_QA}: {len(full)} cases, expected at least {MIN_CASES}")
    for path, cases in ((FULL_QA, full), (SMALL_QA, small)):
        langs = Counter(c["language"] for c in cases)
        for lang in LANGS:
            if cases and langs[lang] / len(cases) < MIN_SHARE:
                problems.append(f"{path}: only {langs[lang]} of {len(cases)} questions "
                                f"are '{lang}'")
    cross = Counter(c["language"] for c in full if is_cross_lingual(c, docs))
    for lang in LANGS:
        if cross[lang] < MIN_CROSS:
            problems.append(f"{FULL_QA}: {cross[lang]} cross-lingual '{lang}' questions, "
                            f"expected at least {MIN_CROSS}")
    if len(small) != SMALL_CASES:
        problems.append(f"{SMALL_QA}: {len(small)} cases, expected {SMALL_CASES}")
    by_id = {c["id"]: c for c in full}
    for c in small:
        if by_id.get(c["id"]) != c:
            problems.append(f"{SMALL_QA}: case {c['id']} is not an identical copy of the one in "
                            f"{FULL_QA.name}")


# ---------------------------------------------------------------- entry points

def check() -> tuple[list[str], dict]:
    problems: list[str] = []
    docs = load_docs(problems)
    check_manifest(docs, problems)
    full = load_cases(FULL_QA, docs, problems)
    small = load_cases(SMALL_QA, docs, problems)
    check_sets(full, small, docs, problems)
    summary = {
        "docs": dict(Counter(d.language for d in docs.values())),
        "words": {lang: sum(d.words for d in docs.values() if d.language == lang)
                  for lang in LANGS},
        "words_min_max": [min((d.words for d in docs.values()), default=0),
                          max((d.words for d in docs.values()), default=0)],
        "cases": dict(Counter(c["language"] for c in full)),
        "cross_lingual": dict(Counter(c["language"] for c in full if is_cross_lingual(c, docs))),
        "difficulty": dict(Counter(c["metadata"]["difficulty"] for c in full)),
        "small_cases": dict(Counter(c["language"] for c in small)),
    }
    return problems, summary


def audit() -> None:
    """Print, per case, the non-gold documents that also contain its first answer."""
    problems: list[str] = []
    docs = load_docs(problems)
    for c in load_cases(FULL_QA, docs, problems):
        others = [n for n, d in docs.items()
                  if n not in c["gold_docs"] and contains(d.text, c["answers"][0])]
        if others:
            print(f"{c['id']} {c['answers'][0]!r} also in: {', '.join(sorted(others))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit", action="store_true",
                        help="list non-gold documents that also contain a case's first answer")
    parser.add_argument("--write-manifest", action="store_true",
                        help="regenerate the 'documents:' list of corpora/manifest.yaml")
    args = parser.parse_args(argv)
    if args.write_manifest:
        write_manifest(load_docs([]))
    problems, summary = check()
    for p in problems:
        print(f"PROBLEM {p}")
    print(json.dumps(summary, ensure_ascii=False))
    if args.audit:
        audit()
    print(f"{len(problems)} problem(s)" if problems else "OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
