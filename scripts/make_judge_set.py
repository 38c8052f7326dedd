#!/usr/bin/env python3
"""Build eval/datasets/judge-faithfulness.jsonl: labelled answers for checking a faithfulness judge.

Deterministic and model-free, from the demo QA set's gold answers and its gold documents' text
(standard library only):

    python3 scripts/make_judge_set.py            # write the file
    python3 scripts/make_judge_set.py --check    # exit 1 if the file differs from a rebuild

For every demo-qa case with a gold document in the question's language, the passage is the
paragraph of that document holding the canonical answer, and two answers are written:
- a faithful one: the sentence holding the answer, verbatim (edit "none"), or that sentence
  plus another sentence of the same paragraph (edit "added_supported"), alternately;
- an unfaithful one by one controlled edit of that sentence, the kinds taken in turn (the
  first that applies): "swapped_number" (the answer's number, or the sentence's first, replaced
  by another number of the same document, else shifted), "swapped_entity" (the answer replaced
  by another case's answer in the same language that the passage never mentions), "negation"
  (a negation added to the first verb that takes one, else "It is not true that ..." /
  "No es cierto que ..."), "added_unsupported" (a sentence of another document appended, one
  sharing few words with the passage).
Each line: id, question, passages, answer, label (faithful | unfaithful), edit, language, and
where it came from (qa_id, doc).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QA = ROOT / "eval" / "datasets" / "demo-qa.jsonl"
DOCS = ROOT / "corpora" / "demo"
OUT = ROOT / "eval" / "datasets" / "judge-faithfulness.jsonl"

UNFAITHFUL_KINDS = ("swapped_number", "swapped_entity", "negation", "added_unsupported")
# A sentence ends at . ! ? before a space and a capital (or an opening mark / digit).
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÑ¿¡\"“(0-9])")
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")
_ABBREVIATIONS = ("et al.", "e.g.", "i.e.", "vs.", "Dr.", "Mr.", "approx.", "p. ej.", "EE. UU.")
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w])")
_WORD = re.compile(r"\w+", re.UNICODE)
_NEGATABLE = {
    "en": ("is", "are", "was", "were", "can", "could", "does", "do", "did", "will", "would",
           "should", "may", "must"),
    "es": ("es", "son", "fue", "fueron", "era", "eran", "tiene", "tienen", "tenía", "usa",
           "usan", "usó", "puede", "pueden", "ha", "han", "había", "se", "está", "están"),
}
_EXISTING_NEGATION = {"en": r"(?<=\w) not(?= \w)", "es": r"(?<!\w)no (?=\w)"}
_LOWER_FIRST = {
    "en": {"the", "a", "an", "in", "on", "at", "this", "these", "those", "its", "it", "he", "she",
           "they", "there", "for", "from", "with", "by", "after", "before", "during", "since",
           "when", "as", "each", "every", "both", "some", "most", "many"},
    "es": {"el", "la", "los", "las", "un", "una", "en", "este", "esta", "estos", "estas", "su",
           "sus", "se", "con", "por", "para", "desde", "durante", "tras", "como", "según", "cada",
           "al", "del", "entre", "sin", "sobre", "ambos", "muchos"},
}
_NOT_TRUE = {"en": "It is not true that ", "es": "No es cierto que "}
_STOP = frozenset("""a al and are as at be by de del el en es for from in is it la las los of on
or que se su the to un una was were with y""".split())


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(fold(text)) if w not in _STOP and len(w) > 2}


def has_phrase(text: str, phrase: str) -> bool:
    """Whole-word, case- and accent-insensitive."""
    return re.search(rf"(?<!\w){re.escape(fold(phrase))}(?!\w)", fold(text)) is not None


def paragraphs(doc: str) -> list[str]:
    """Body paragraphs: blank-line separated, headings dropped."""
    out = []
    for block in re.split(r"\n\s*\n", doc):
        block = " ".join(line.strip() for line in block.strip().splitlines())
        if block and not block.startswith("#"):
            out.append(block)
    return out


def sentences(paragraph: str) -> list[str]:
    pieces = [s.strip() for s in _SENT_END.split(paragraph) if s.strip()]
    out: list[str] = []
    for piece in pieces:
        # An initial ("T. J. Watson") or an abbreviation ("et al.") does not end a sentence.
        if out and (_INITIAL.search(out[-1]) or out[-1].endswith(_ABBREVIATIONS)):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def find_answer(text: str, answers: list[str]) -> tuple[str, str, str] | None:
    """(paragraph, sentence, answer as written) for the first answer found, canonical first."""
    for answer in answers:
        for para in paragraphs(text):
            for sent in sentences(para):
                m = re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", sent, re.IGNORECASE)
                if m:
                    return para, sent, m.group(0)
    return None


# ---------------------------------------------------------------- edits

def swap_number(sent: str, answer: str, doc: str) -> str | None:
    """The answer's number in the sentence (else the sentence's first) replaced."""
    in_answer = _NUMBER.search(answer)
    found = None
    if in_answer:
        found = re.search(rf"(?<![\w.,]){re.escape(in_answer.group(0))}(?![\w])", sent)
    found = found or _NUMBER.search(sent)
    if found is None:
        return None
    old = found.group(0)
    # Another number of the same document, as long (a plausible distractor), else shifted.
    others = [n for n in dict.fromkeys(_NUMBER.findall(doc))
              if n != old and not has_phrase(sent, n) and len(n) == len(old)]
    new = others[0] if others else _shift(old)
    return sent[:found.start()] + new + sent[found.end():]


def _shift(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    value = int(digits)
    if 1800 <= value <= 2030 and len(number) == 4:   # a year: a few years off
        return str(value - 3)
    return number.replace(digits[-1], str((int(digits[-1]) + 3) % 10), 1) if len(digits) > 1 \
        else str(value + 2)


def swap_entity(sent: str, answer: str, passage: str, pool: list[str]) -> str | None:
    """The answer replaced by another case's answer of the same shape (a capitalised name for a
    name, about as many words) that the passage never mentions."""
    if _NUMBER.search(answer):
        return None
    where = re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", sent, re.IGNORECASE)
    if where is None:
        return None
    candidates = [o for o in pool if fold(o) != fold(answer) and not has_phrase(passage, o)
                  and not _NUMBER.search(o)]
    if not candidates:
        return None

    def distance(other: str) -> tuple[int, int]:
        return (other[:1].isupper() != answer[:1].isupper(),
                abs(len(other.split()) - len(answer.split())))

    best = min(candidates, key=distance)   # min keeps pool order among equals
    return sent[:where.start()] + best + sent[where.end():]


def negate(sent: str, lang: str) -> str:
    """Flip the sentence's polarity: drop a negation it has, else add one to its first verb
    that takes one, else prefix "It is not true that" / "No es cierto que"."""
    existing = re.search(_EXISTING_NEGATION[lang], sent)
    if existing:
        return sent[:existing.start()] + sent[existing.end():]
    for verb in _NEGATABLE[lang]:
        m = re.search(rf"(?<!\w){verb}(?!\w)", sent)
        if m:
            if lang == "en":
                return sent[:m.end()] + " not" + sent[m.end():]
            return sent[:m.start()] + "no " + sent[m.start():]
    first = sent.split()[0]
    keep_case = first.lower() not in _LOWER_FIRST[lang]   # a name stays capitalised
    return _NOT_TRUE[lang] + (sent if keep_case else sent[0].lower() + sent[1:])


def unsupported_sentence(lang: str, doc_name: str, passage: str, answer: str,
                         corpus: dict[str, str], start: int) -> str | None:
    """A sentence of another document in `lang` sharing few words with the passage."""
    names = [n for n in sorted(corpus) if n.endswith(f".{lang}.md") and n != doc_name]
    passage_words = words(passage)
    for i in range(len(names)):
        name = names[(start + i) % len(names)]
        for para in paragraphs(corpus[name]):
            for sent in sentences(para):
                w = words(sent)
                if len(sent.split()) >= 8 and w and len(w & passage_words) / len(w) < 0.25 \
                        and not has_phrase(sent, answer) and sent.endswith("."):
                    return sent
    return None


# ---------------------------------------------------------------- build

def build() -> list[dict]:
    cases = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line]
    corpus = {p.name: p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md"))}
    pools = {lang: [c["answers"][0] for c in cases if c["language"] == lang]
             for lang in ("en", "es")}
    items, n, used = [], 0, Counter()
    for case in cases:
        lang = case["language"]
        doc_name = next((d for d in case["gold_docs"] if d.endswith(f".{lang}.md")), None)
        if doc_name is None:
            continue   # cross-lingual case: no passage in the question's language
        found = find_answer(corpus[doc_name], case["answers"])
        if found is None:
            continue
        para, sent, answer = found
        base = {"question": case["question"], "passages": [para], "language": lang,
                "source": {"qa_id": case["id"], "doc": doc_name}}
        faithful, edit = sent, "none"
        others = [s for s in sentences(para) if s != sent]
        if n % 2 == 1 and others:
            faithful, edit = f"{sent} {others[0]}", "added_supported"
        items.append({**base, "answer": faithful, "label": "faithful", "edit": edit})
        kind, wrong = unfaithful(n, sent, answer, lang, doc_name, para, corpus,
                                 pools[lang][n % len(pools[lang]):] + pools[lang], used)
        items.append({**base, "answer": wrong, "label": "unfaithful", "edit": kind})
        n += 1
    for i, item in enumerate(items, start=1):
        item["id"] = f"jf-{i:03d}"
    keys = ("id", "question", "passages", "answer", "label", "edit", "language", "source")
    return [{k: item[k] for k in keys} for item in items]


def unfaithful(n: int, sent: str, answer: str, lang: str, doc_name: str, para: str,
               corpus: dict[str, str], pool: list[str], used: Counter) -> tuple[str, str]:
    """One edit: of the kinds that apply, the one used least so far (ties: kind n mod 4 on)."""
    applicable = {}
    for k in range(len(UNFAITHFUL_KINDS)):
        kind = UNFAITHFUL_KINDS[(n + k) % len(UNFAITHFUL_KINDS)]
        if kind == "swapped_number":
            out = swap_number(sent, answer, corpus[doc_name])
        elif kind == "swapped_entity":
            out = swap_entity(sent, answer, para, pool)
        elif kind == "negation":
            out = negate(sent, lang)
        else:
            extra = unsupported_sentence(lang, doc_name, para, answer, corpus, n)
            out = f"{sent} {extra}" if extra else None
        if out and out != sent:
            applicable[kind] = out
    if not applicable:
        raise SystemExit(f"no edit applies to: {sent}")
    kind = min(applicable, key=lambda k: used[k])   # min keeps the first of equal counts
    used[kind] += 1
    return kind, applicable[kind]


def render(items: list[dict]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args()
    text = render(build())
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{args.out} differs from a rebuild")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} items to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
