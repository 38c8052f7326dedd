"""A deterministic embedder for tests (ours and users'): no model, no download, same vectors."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from promptkit.embedders.base import Embedder

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder(Embedder):
    """Hashed bag-of-words vectors, L2-normalised: texts sharing words score higher.

    Queries and passages are embedded the same way, so similarity is symmetric.
    """

    __test__ = False   # not a test class, whatever pytest's name patterns say
    name = "hash"
    max_tokens = 10_000

    def __init__(self, dim: int = 256):
        self.dim = dim

    def _tokens(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())

    def _bucket(self, token: str) -> int:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.dim

    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in self._tokens(text):
                out[row, self._bucket(token)] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        # An empty text stays the zero vector (similarity 0 to everything) instead of NaN.
        return out / np.where(norms == 0, 1.0, norms)

    def count_tokens(self, text: str) -> int:
        return len(self._tokens(text))
