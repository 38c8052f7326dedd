"""Lexical search (BM25) for hybrid retrieval: the tokenizer, the scoring, an in-memory index.

Words are lower-cased and stripped of accents ("atención" matches "atencion"), and Spanish and
English function words are dropped so they do not swamp the scores. The persistent index a
collection keeps on disk (`promptkit.store.bm25_index`) uses the same tokenizer and scoring.

Scoring is Okapi BM25 (k1 = 1.5, b = 0.75) with Lucene's idf, ln(1 + (N - df + 0.5) / (df + 0.5)):
always positive, and it needs only the term's document frequency, so an index can be updated
one document at a time (rank-bm25's variant floors negative idfs at a share of the average idf
over the whole vocabulary, which every update would change).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

K1 = 1.5
B = 0.75
# Bump when tokenize() changes: persisted indexes built with another version are rebuilt.
TOKENIZER_VERSION = "2"

_WORD = re.compile(r"\w+", re.UNICODE)
# The combining-mark blocks accents decompose into (NFKD): cheaper than a per-character check.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

# Written without accents: tokens are folded before the check.
_STOP_ES = """
a al algo algun alguna algunas alguno algunos ante antes aquel aquella aquellas aquello aquellos
aqui asi aun aunque cada casi como con contra cual cuales cualquier cuando cuanta cuantas cuanto
cuantos de del desde donde dos durante e el ella ellas ello ellos en entre era eramos eran eras
eres es esa esas ese eso esos esta estaba estabamos estaban estabas estad estada estadas estado
estados estais estamos estan estar estara estaran estaras estare estareis estaremos estaria
estarian estarias este esto estos estoy estuve estuvo fue fuera fueron fui fuimos ha habeis haber
habia habian habias habra habran habria han has hasta hay haya hayan he hemos hube hubo la las le
les lo los mas me mi mia mias mio mios mis mucho muchos muy nada ni no nos nosotras nosotros
nuestra nuestras nuestro nuestros o os otra otras otro otros para pero poco por porque pues que
quien quienes se sea sean ser sera seran seria serian si sido siempre sin sino so sobre sois solo
somos son soy su sus suya suyas suyo suyos tambien tanto te tendra tendran tenemos tenga tengan
tengo tenia tenian tiene tienen toda todas todo todos tu tus tuya tuyo tuvo un una uno unos
usted ustedes vosotras vosotros vuestra vuestro y ya yo
"""
_STOP_EN = """
a about above after again against all also am an and any are aren as at be because been before
being below between both but by can cannot could couldn did didn do does doesn doing don down
during each either else ever few for from further had hadn has hasn have haven having he her here
hers herself him himself his how however i if in into is isn it its itself just let ll may me
might more most must mustn my myself neither no nor not now of off on once only or other ought
our ours ourselves out over own per re same shall shan she should shouldn so some such than that
the their theirs them themselves then there these they this those through thus to too under
until up upon us ve very via was wasn we were weren what when where whether which while who whom
whose why will with won would wouldn yet you your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_ES.split()) | frozenset(_STOP_EN.split())


def fold(text: str) -> str:
    """Lower case without accents: "Máquina" and "maquina" match."""
    text = text.lower()
    if text.isascii():
        return text
    return _MARKS.sub("", unicodedata.normalize("NFKD", text))


def tokenize(text: str) -> list[str]:
    """Folded words of `text`, without stop words and single letters (digits are kept)."""
    return [w for w in _WORD.findall(fold(text))
            if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]


def idf(n_docs: int, df: np.ndarray | int) -> np.ndarray | float:
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def term_scores(idf_value: float, tf: np.ndarray, dl: np.ndarray, avgdl: float) -> np.ndarray:
    """BM25 contribution of one term to the documents containing it (tf and length arrays)."""
    norm = K1 * (1.0 - B + B * dl / max(avgdl, 1e-9))
    return idf_value * tf * (K1 + 1.0) / (tf + norm)


class BM25Index:
    """BM25 over one fixed list of (id, text), in memory (small corpora, experiments)."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]):
        self.ids = list(ids)
        counts = [Counter(tokenize(t)) for t in texts]
        self._lengths = np.array([sum(c.values()) for c in counts], dtype=np.float64)
        self._avgdl = float(self._lengths.mean()) if len(counts) else 0.0
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        grouped: dict[str, tuple[list[int], list[int]]] = {}
        for doc, counter in enumerate(counts):
            for term, tf in counter.items():
                docs, tfs = grouped.setdefault(term, ([], []))
                docs.append(doc)
                tfs.append(tf)
        for term, (docs, tfs) in grouped.items():
            self._postings[term] = (np.array(docs, dtype=np.int64), np.array(tfs, np.float64))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for `query` (a repeated query word counts again)."""
        out = np.zeros(len(self.ids), dtype=np.float64)
        for term, qtf in Counter(tokenize(query)).items():
            if term not in self._postings:
                continue
            docs, tfs = self._postings[term]
            w = idf(len(self.ids), len(docs))
            out[docs] += qtf * term_scores(w, tfs, self._lengths[docs], self._avgdl)
        return out

    def top(self, query: str, n: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Best `n` (id, score) with a positive score, optionally only among `allowed` ids."""
        scores = self.scores(query) if self.ids else np.zeros(0)
        return best_positive(self.ids, scores, n, allowed)


def best_positive(ids: list[str], scores: np.ndarray, n: int,
                  allowed: set[str] | None = None) -> list[tuple[str, float]]:
    """The `n` highest-scoring (id, score) pairs with a positive score, ties in id order."""
    out = []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] <= 0:
            break
        if allowed is None or ids[i] in allowed:
            out.append((ids[i], float(scores[i])))
            if len(out) >= n:
                break
    return out
