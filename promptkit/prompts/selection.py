"""Few-shot example selection: fixed, seeded random, or semantic nearest neighbours."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from promptkit.errors import UserError

if TYPE_CHECKING:
    from promptkit.embedders.base import Embedder
    from promptkit.prompts.spec import Example, ExampleSelection


def select_examples(examples: Sequence[Example], selection: ExampleSelection, *,
                    query: str | None, embedder: Embedder | None, seed: int | None,
                    n: int | None, ref: str) -> list[Example]:
    """Pick the examples for one render; `n` and `seed` override the file's `k` and `seed`."""
    if n is None:
        n = selection.k if selection.k is not None else len(examples)
    if n < 0:
        raise UserError(f"n_examples must be 0 or more, got {n}")
    n = min(n, len(examples))
    if selection.method == "fixed":
        return list(examples[:n])
    if selection.method == "random":
        rng = random.Random(selection.seed if seed is None else seed)
        return rng.sample(list(examples), n)
    return _nearest(examples, selection.key, query or "", embedder, n, ref)


def _nearest(examples: Sequence[Example], key: str, query: str, embedder: Embedder | None,
             n: int, ref: str) -> list[Example]:
    if embedder is None:
        raise UserError(f"prompt '{ref}' selects few-shot examples semantically and needs an "
                        "embedder", hint="Pass embedder=... to render() / to_langchain().")
    if n == 0:
        return []
    vectors = embedder.embed_documents([ex.vars[key] for ex in examples])
    scores = vectors @ embedder.embed_query(query)
    # Highest score first, ties by file order; then reversed so the closest example sits
    # right before the real question, where small models attend to it most.
    order = sorted(range(len(examples)), key=lambda i: (-float(scores[i]), i))[:n]
    return [examples[i] for i in reversed(order)]
