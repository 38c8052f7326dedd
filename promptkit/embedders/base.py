"""The embedder protocol: one small abstract method, conveniences in the base class."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors.

    Subclasses implement `_embed(texts, kind)` and `count_tokens`; `kind` is "query" or
    "passage" so models with asymmetric conventions (e5's "query: "/"passage: ") handle it once.
    """

    name: str = ""          # registry name, e.g. "minilm"; recorded with every collection
    dim: int = 0
    max_tokens: int = 256   # longest input the model reads before truncating
    batch_size: int = 64

    @abstractmethod
    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        """Return an (n, dim) float32 array of normalised vectors."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Length of `text` in this model's own tokenizer (no special tokens)."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._embed(list(texts), "passage")

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text], "query")[0]

    def describe(self) -> dict:
        """What a collection records about the embedder that built it."""
        return {"embedder": self.name, "dim": self.dim}
