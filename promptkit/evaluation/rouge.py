"""ROUGE-L over Unicode text, identical to Google's rouge-score on ASCII English.

rouge-score's tokenizer keeps only `[a-z0-9]`: accented words break apart ("canción" ->
"canci", "n") and text in other scripts (Chinese, Russian, Arabic, Hindi) scores as empty.
This tokenizer keeps letters, digits and combining marks of every script, lower-cases, folds
accents on Latin letters only ("atención" = "atencion"; a Devanagari vowel sign is part of its
word), and splits scripts written without spaces (Chinese, Japanese, Thai, ...) into one token
per character, the usual unit for ROUGE on them. On ASCII it yields exactly rouge-score's
tokens, so scores match the official package (a test checks it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from promptkit.errors import MissingDependencyError

_LATIN_MAX = 0x24F   # Basic Latin .. Latin Extended-B
_NO_SPACES = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")


def _fold_latin(text: str) -> str:
    """Drop accents from Latin letters only; other scripts' marks carry meaning."""
    out = []
    base_latin = False
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            if not base_latin:
                out.append(ch)
            continue
        base_latin = ord(ch) <= _LATIN_MAX
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _is_word_char(ch: str) -> bool:
    # Letters, marks and digits of any script; "_" and punctuation separate words, as
    # rouge-score's [^a-z0-9] does on ASCII.
    return unicodedata.category(ch)[0] in "LMN"


def tokenize(text: str, *, fold_accents: bool = True) -> list[str]:
    """Lower-cased word tokens of `text`; one token per character in scripts without spaces."""
    text = text.lower()
    if fold_accents:
        text = _fold_latin(text)
    tokens: list[str] = []
    word: list[str] = []
    for ch in text:
        if _NO_SPACES.match(ch):
            if word:
                tokens.append("".join(word))
                word = []
            tokens.append(ch)
        elif _is_word_char(ch):
            word.append(ch)
        elif word:
            tokens.append("".join(word))
            word = []
    if word:
        tokens.append("".join(word))
    return tokens


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (two-row dynamic programme)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str, *, fold_accents: bool = True,
            stemmer=None) -> float:
    """ROUGE-L F-measure (P = LCS / prediction tokens, R = LCS / reference tokens)."""
    pred = tokenize(prediction, fold_accents=fold_accents)
    ref = tokenize(reference, fold_accents=fold_accents)
    if stemmer is not None:
        pred, ref = _stem(pred, stemmer), _stem(ref, stemmer)
    if not pred or not ref:
        return 0.0
    lcs = lcs_length(ref, pred)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def porter_stemmer():
    """The Porter stemmer rouge-score uses (from nltk, which rouge-score depends on)."""
    try:
        from nltk.stem import porter
    except ImportError as exc:
        raise MissingDependencyError("ROUGE-L with use_stemmer", "eval") from exc
    return porter.PorterStemmer()


def _stem(tokens: list[str], stemmer) -> list[str]:
    # rouge-score stems only tokens longer than 3 characters; the stemmer knows English only.
    return [stemmer.stem(t) if len(t) > 3 and t.isascii() else t for t in tokens]
