"""A fixed list of passages searched by word overlap: a retriever for tests (ours and users')."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)

@dataclass
class FakeHit:
    id: str
    text: str
    source: str
    score: float
    rank: int
    metadata: dict


class FakeRetriever:
    """A fixed list of passages searched by word overlap: a stand-in for a collection.

    Passages are `(source, text)` pairs or plain strings. `queries` records every search with
    its keyword arguments, so tests can check what the pipeline asked for.
    """

    __test__ = False
    name = "fake"

    def __init__(self, passages: Iterable[str | tuple[str, str]]):
        self.passages = [(p, f"doc{i}") if isinstance(p, str) else (p[1], p[0])
                         for i, p in enumerate(passages, start=1)]
        self.queries: list[tuple[str, dict]] = []

    def search(self, query: str, k: int = 4, **options) -> list[FakeHit]:
        self.queries.append((query, {"k": k, **options}))
        words = set(_WORD.findall(query.lower()))
        scored = []
        for i, (text, source) in enumerate(self.passages):
            overlap = len(words & set(_WORD.findall(text.lower())))
            scored.append((overlap / (len(words) or 1), -i, text, source))
        scored.sort(reverse=True)
        return [FakeHit(id=f"{source}#{-neg_i}", text=text, source=source, score=score,
                        rank=rank, metadata={})
                for rank, (score, neg_i, text, source) in enumerate(scored[:k], start=1)]
