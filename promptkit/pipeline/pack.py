"""Fit retrieved passages into the model's context window, order them, number them for citation.

The budget is counted with the model's own tokenizer. Passages are chosen best-first (a lower
ranked passage never displaces a better one), then arranged:
- `ranked`: best first;
- `reversed`: best last, right before the question;
- `edges`: best at the start and the end, weakest in the middle, because models use the middle
  of a long context least (Liu et al. 2023, "Lost in the Middle").
Numbers follow the order the model reads, so "[1]" is the first passage in the prompt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from promptkit.choices import ORDERS
from promptkit.errors import UserError

SEPARATOR = "\n\n"
TRUNCATION_MARK = " …"


@dataclass
class ContextChunk:
    """A passage as the pipeline uses it, whatever produced it (store hit, dict, plain text)."""

    id: str
    text: str
    source: str = ""
    score: float | None = None
    rank: int = 0                    # 1 = best, as retrieved or given
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_any(cls, item, rank: int) -> ContextChunk:
        """From a store `Hit`, a dict with at least `text`, or a string (oracle contexts)."""
        if isinstance(item, ContextChunk):
            return item
        if isinstance(item, str):
            return cls(id=_text_id(item), text=item, source=f"context {rank}", rank=rank)
        get = item.get if isinstance(item, dict) else (lambda k, d=None: getattr(item, k, d))
        text = get("text")
        if not isinstance(text, str):
            raise UserError(f"context {rank} has no 'text' string",
                            hint="Give contexts as strings, dicts with 'text', or store hits.")
        score = get("score")
        return cls(id=str(get("id") or _text_id(text)), text=text,
                   source=str(get("source") or f"context {rank}"),
                   score=float(score) if score is not None else None,
                   rank=int(get("rank") or rank), metadata=dict(get("metadata") or {}))


def _text_id(text: str) -> str:
    return "ctx-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class PackedChunk:
    chunk: ContextChunk
    number: int          # citation number = position in the prompt, from 1
    tokens: int
    truncated: bool = False


@dataclass
class Packing:
    chunks: list[PackedChunk]       # in prompt order
    dropped: list[ContextChunk]     # did not fit the budget
    budget_tokens: int
    used_tokens: int
    context: str                    # the text that fills the prompt's {context}

    def chunk_for(self, number: int) -> PackedChunk | None:
        return self.chunks[number - 1] if 1 <= number <= len(self.chunks) else None


def source_label(source: str) -> str:
    """What the model sees of a source: a file's name, not the folders it sits in."""
    return PurePath(source).name if ("/" in source or "\\" in source) else source


def format_chunk(number: int, chunk: ContextChunk) -> str:
    # Folders would cost tokens and show the model local paths; the file name is the label.
    source = f"({source_label(chunk.source)}) " if chunk.source else ""
    return f"[{number}] {source}{chunk.text.strip()}"


def order_chunks(chunks: Sequence, order: str) -> list:
    """Arrange best-first `chunks` for the prompt (see module docstring)."""
    if order == "ranked":
        return list(chunks)
    if order == "reversed":
        return list(reversed(chunks))
    if order == "edges":
        front, back = [], []
        for i, chunk in enumerate(chunks):
            (front if i % 2 == 0 else back).append(chunk)
        return front + back[::-1]
    raise UserError(f"unknown context order '{order}'", hint=f"Use one of: {', '.join(ORDERS)}.")


def _truncate_to_fit(chunk: ContextChunk, budget: int,
                     count: Callable[[str], int]) -> tuple[ContextChunk, int] | None:
    """The longest word-boundary prefix of `chunk` that fits `budget` tokens, or None."""
    lo, hi, best = 0, len(chunk.text), None
    while lo <= hi:
        mid = (lo + hi) // 2
        cut = chunk.text[:mid].rsplit(" ", 1)[0] if mid < len(chunk.text) else chunk.text
        candidate = ContextChunk(chunk.id, cut + TRUNCATION_MARK, chunk.source, chunk.score,
                                 chunk.rank, chunk.metadata)
        tokens = count(format_chunk(999, candidate))  # a wide number: safe
        if tokens <= budget and cut.strip():
            best, lo = (candidate, tokens), mid + 1
        else:
            hi = mid - 1
    return best


def pack(chunks: Sequence[ContextChunk], *, budget_tokens: int, count_tokens: Callable[[str], int],
         order: str = "ranked") -> Packing:
    """Choose best-first passages that fit `budget_tokens`, then order and number them."""
    if order not in ORDERS:
        order_chunks([], order)  # raises the UserError
    ranked = sorted(chunks, key=lambda c: c.rank)
    sep_tokens = count_tokens(SEPARATOR) if len(ranked) > 1 else 0
    # Count each passage with the widest number it could get, so renumbering cannot overflow.
    widest = max(len(ranked), 1)
    chosen: list[tuple[ContextChunk, int, bool]] = []
    dropped: list[ContextChunk] = []
    used = 0
    for chunk in ranked:
        cost = count_tokens(format_chunk(widest, chunk)) + (sep_tokens if chosen else 0)
        if used + cost <= budget_tokens:
            chosen.append((chunk, cost, False))
            used += cost
        else:
            dropped.append(chunk)
    if not chosen and ranked:
        # Not even the best passage fits: a cut-down best passage beats no context at all.
        fitted = _truncate_to_fit(ranked[0], budget_tokens, count_tokens)
        if fitted is not None:
            dropped.remove(ranked[0])
            chosen.append((fitted[0], fitted[1], True))
    while True:
        arranged = order_chunks(chosen, order)
        packed = [PackedChunk(c, n, tokens, trunc)
                  for n, (c, tokens, trunc) in enumerate(arranged, start=1)]
        context = SEPARATOR.join(format_chunk(p.number, p.chunk) for p in packed)
        total = count_tokens(context) if context else 0
        # Tokenizers can merge across the joins; re-check the whole and give up the weakest.
        if total <= budget_tokens or not chosen:
            return Packing(packed, dropped, budget_tokens, total, context)
        dropped.append(chosen.pop()[0])
