"""Lexical search (BM25, rank-bm25) over a collection's texts, for hybrid retrieval.

Words are lower-cased and stripped of accents ("atención" matches "atencion"), and the most
common Spanish and English function words are dropped so they do not swamp the scores.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset("""
a al algo algunos ante antes como con contra cual cuando de del desde donde durante e el ella
ellas ellos en entre era es esa esas ese eso esos esta estas este esto estos fue ha hay la las le
les lo los mas me mi muy nada ni no nos o otra otro para pero poco por porque que quien se
sea ser si sin sobre son su sus tambien te tiene tu un una uno unos y ya yo cual cuales
the of and or to in on at by for with from as is are was were be been being it its this that
these those an a which who whom what when where why how do does did not no so than then there
their they them he she his her we our you your i me my can could would should will shall may
might must has have had into about over under also such only other some any each both all
""".split())


def tokenize(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [w for w in _WORD.findall(folded) if w not in _STOP and (len(w) > 1 or w.isdigit())]


class BM25Index:
    """BM25 (Okapi) scores for one fixed list of (id, text)."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]):
        from rank_bm25 import BM25Okapi

        self.ids = list(ids)
        # rank-bm25 divides by the corpus size: an empty collection gets no index at all.
        self._bm25 = BM25Okapi([tokenize(t) or ["\0"] for t in texts]) if self.ids else None

    def top(self, query: str, n: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Best `n` (id, score) with a positive score, optionally only among `allowed` ids."""
        terms = tokenize(query)
        if self._bm25 is None or not terms:
            return []
        scores = np.asarray(self._bm25.get_scores(terms))
        order = np.argsort(-scores, kind="stable")
        out = []
        for i in order:
            if scores[i] <= 0:
                break
            if allowed is None or self.ids[i] in allowed:
                out.append((self.ids[i], float(scores[i])))
                if len(out) >= n:
                    break
        return out


class IndexCache:
    """A few BM25 indexes kept per process, keyed by collection and its state stamp."""

    def __init__(self, size: int = 4):
        self._items: OrderedDict[tuple, BM25Index] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple, build) -> BM25Index:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        index = build()
        with self._lock:
            self._items[key] = index
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return index


CACHE = IndexCache()
