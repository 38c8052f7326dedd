"""Reranking: retrieve k₁ candidates cheaply, then order them with a model that reads the
question and each passage together (a cross-encoder), and keep the best k.

A bi-encoder (the embedder) compares two vectors made separately; a cross-encoder attends over
question and passage at once, which ranks better and costs one model call per candidate, so it
only sees the short list. Rerankers are named like embedders:

    get_reranker("/path/to/cross-encoder")   a local sentence-transformers CrossEncoder folder
    get_reranker("hf:org/name")              the same, from the Hugging Face cache or Hub
    get_reranker("fake")                     word overlap with the question (tests, no model)
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from promptkit.errors import MissingDependencyError, NotFoundError, UserError

# Candidates fetched for reranking when none is given: the store's own pool rule for MMR.
MIN_CANDIDATES = 20


def default_candidates(k: int) -> int:
    return max(4 * k, MIN_CANDIDATES)


class Reranker(ABC):
    """Scores (question, passage) pairs; higher is more relevant. `rank` is built on `score`."""

    name: str = ""

    @abstractmethod
    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text, in the order given."""

    def rank(self, query: str, texts: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(index into `texts`, score) of the best `k`, best first; ties keep the given order."""
        if not texts:
            return []
        scores = self.score(query, list(texts))
        order = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
        return [(i, float(scores[i])) for i in order[:k]]

    def describe(self) -> dict:
        return {"reranker": self.name}


class CrossEncoderReranker(Reranker):
    """A sentence-transformers `CrossEncoder`, loaded on first use."""

    batch_size = 32

    def __init__(self, source: str):
        from promptkit.llm import hub

        self.source = source
        if hub.is_hub_name(source):
            self.name = str(hub.parse(source, with_file=False))
            self._folder: Path | None = None
        else:
            folder = Path(source).expanduser()
            if not folder.is_dir():
                raise UserError(f"cross-encoder folder {folder} does not exist",
                                hint="Give a local CrossEncoder folder (saved with "
                                     "save_pretrained) or hf:<org>/<name>.")
            self._folder = folder.resolve()
            self.name = str(self._folder)
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                folder = self._folder or self._download()
                self._model = _cross_encoder(folder)
            return self._model

    def _download(self) -> Path:
        from promptkit.llm import hub

        return hub.download(hub.parse(self.source, with_file=False))

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        pairs = [(query, t) for t in texts]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False,
                                    convert_to_numpy=True)
        return [float(s) for s in scores]


def _cross_encoder(folder: Path):
    """sentence-transformers' CrossEncoder on a local folder (the weights are never fetched
    here: a hub name was downloaded, or found in the cache, before)."""
    try:
        from sentence_transformers import CrossEncoder
    except ImportError:
        raise MissingDependencyError("cross-encoder reranking", "embed") from None
    return CrossEncoder(str(folder))


class FakeReranker(Reranker):
    """Share of the question's words found in the passage: deterministic, no model (tests)."""

    __test__ = False
    name = "fake"

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        words = set(_words(query))
        if not words:
            return [0.0] * len(texts)
        return [len(words & set(_words(t))) / len(words) for t in texts]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


_loaded: dict[str, Reranker] = {}
_lock = threading.Lock()


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith(("~", ".")) or Path(name).is_dir()


def get_reranker(spec: str | Reranker | None) -> Reranker | None:
    """The reranker `spec` names (None: no reranking), created once per process."""
    if spec is None or isinstance(spec, Reranker):
        return spec
    from promptkit.llm import hub

    if spec == "fake":
        return FakeReranker()
    if not (hub.is_hub_name(spec) or _looks_like_path(spec)):
        raise NotFoundError("reranker", spec, ["fake"],
                            hint="Give a local cross-encoder folder or hf:<org>/<name> "
                                 "(e.g. hf:cross-encoder/ms-marco-MiniLM-L-6-v2).")
    key = spec if hub.is_hub_name(spec) else str(Path(spec).expanduser().resolve())
    with _lock:
        if key not in _loaded:
            _loaded[key] = CrossEncoderReranker(spec)
        return _loaded[key]


def check_candidates(k: int, candidates: int | None) -> int:
    """How many passages to retrieve for reranking down to `k`; fewer than `k` is a UserError
    (config models turn it into a field error, so every caller says the same thing)."""
    n = default_candidates(k) if candidates is None else candidates
    if n < k:
        raise UserError(f"rerank_candidates ({n}) must be at least k ({k})",
                        hint="Retrieve more candidates than you keep, e.g. 20 for k = 4.")
    return n
