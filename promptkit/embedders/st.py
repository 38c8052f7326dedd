"""sentence-transformers models from a local folder (packaged MiniLM, mpnet, or any user folder).

Nothing here touches a model hub: the folder must already hold the model. The tokenizer is read
straight from `tokenizer.json` (no torch) so chunking and re-ingests stay cheap; torch and
sentence-transformers are imported only when the first text is embedded.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from promptkit.embedders.cache import CachedEmbedder
from promptkit.errors import MissingDependencyError, UserError


class SentenceTransformerEmbedder(CachedEmbedder):
    """A sentence-transformers model folder; vectors normalised, batches of `batch_size`."""

    def __init__(self, name: str, folder: str | Path, *, batch_size: int = 64,
                 cache: bool = True, threads: int | None = None, dim: int | None = None):
        self.name = name
        self.folder = Path(folder)
        self.batch_size = int(batch_size)
        self.use_cache = cache
        self.threads = threads
        self._dim = dim
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self.max_tokens = self._read_max_tokens()

    def _read_max_tokens(self) -> int:
        # sentence_bert_config.json holds the truncation length; 2 positions go to [CLS]/[SEP].
        cfg = self.folder / "sentence_bert_config.json"
        try:
            return int(json.loads(cfg.read_text())["max_seq_length"]) - 2
        except (OSError, KeyError, ValueError):
            return 254

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            self._dim = int(_dimension(self.model()))
        return self._dim

    def model(self):
        """The loaded SentenceTransformer (loaded once, on first use)."""
        with self._lock:
            if self._model is None:
                self._model = _load(self.folder, self.threads)
        return self._model

    def _compute(self, texts: list[str], kind: str) -> np.ndarray:
        vecs = self.model().encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def tokenizer(self):
        """A copy of the model's fast tokenizer with truncation and padding off (for counting)."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            path = self.folder / "tokenizer.json"
            if path.is_file():
                tok = Tokenizer.from_file(str(path))
            else:  # older folders without tokenizer.json: take it from the loaded model
                tok = Tokenizer.from_str(self.model().tokenizer.backend_tokenizer.to_str())
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer().encode(text, add_special_tokens=False).ids)


def _dimension(model) -> int:
    # sentence-transformers 6 renamed the method; older versions have only the long name.
    getter = (getattr(model, "get_embedding_dimension", None)
              or model.get_sentence_embedding_dimension)
    return getter()


def _load(folder: Path, threads: int | None):
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError("sentence-transformers embedders", "embed") from exc
    if threads:
        torch.set_num_threads(int(threads))
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise UserError(f"{folder} is not a sentence-transformers model folder "
                        "(no modules.json or config.json)",
                        hint="Pass a folder saved with SentenceTransformer.save(), or one of: "
                             "minilm, e5-multilingual, mpnet.")
    # local_files_only: a folder path never reaches a hub, even if the folder is incomplete.
    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)
