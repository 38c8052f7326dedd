"""Cases and passages for experiments: load once, cut to the model's tokens, build cell datasets."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from promptkit.evaluation.datasets import Case, Dataset, load_dataset
from promptkit.experiments.config import ExperimentConfig

CountFn = Callable[[str], int]


class Truncator:
    """Cuts passages to a token budget of the target model, each distinct text counted once.

    Passages repeat across cells (every position, every k); the memo keeps the tokenizer from
    seeing the same passage twice.
    """

    def __init__(self, count_tokens: CountFn, max_tokens: int | None):
        self.count, self.max_tokens = count_tokens, max_tokens
        self._memo: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if self.max_tokens is None:
            return text
        if text not in self._memo:
            self._memo[text] = cut_to_tokens(text, self.max_tokens, self.count)
        return self._memo[text]


def cut_to_tokens(text: str, max_tokens: int, count: CountFn) -> str:
    """The longest whole-word prefix of `text` within `max_tokens` (the text itself if it fits)."""
    if count(text) <= max_tokens:
        return text
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:  # largest m with count(words[:m]) <= max_tokens
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def has_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether a passage contains an answer, normalised as best_subspan_em compares them."""
    from promptkit.evaluation.metrics import best_subspan_em

    return bool(best_subspan_em(text, list(answers)))


def load_cases(cfg: ExperimentConfig) -> Dataset:
    """The config's dataset, unsliced (kinds keep `limit` usable cases themselves)."""
    data = cfg.data
    path = cfg.resolve_path(data.path)
    return load_dataset(path, loader=None if data.loader == "auto" else data.loader)


def passage(ctx: dict, text: str | None = None, **extra) -> dict:
    """A context dict as the pipeline takes it; the title is shown as the passage's source."""
    out = {"id": ctx["id"], "text": ctx["text"] if text is None else text,
           "source": ctx.get("source") or ctx.get("title") or ""}
    out.update(extra)
    return out


def gold_passages(case: Case) -> list[dict]:
    gold = set(case.gold_ids)
    return [c for c in case.contexts or [] if c["id"] in gold]


@dataclass
class Selection:
    """Cases kept for an experiment, and how many were left out for which reason."""

    cases: list = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    seen: int = 0

    def note(self) -> str:
        if not self.skipped:
            return f"{len(self.cases)} cases used"
        why = "; ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        return f"{len(self.cases)} cases used of the first {self.seen} read ({why} left out)"

    def to_dict(self) -> dict:
        return {"used": len(self.cases), "read": self.seen, "skipped": dict(self.skipped)}


def make_dataset(label: str, cases: list[Case], source: str, basis: str) -> Dataset:
    """An in-memory dataset for one cell.

    Its hash stands for how the cases were made (source data hash + experiment settings + cell),
    not for the case list itself: a larger `limit` then extends a resumed run instead of being
    refused as a changed dataset, while changed data or settings still are.
    """
    digest = hashlib.sha256(f"{basis}\0{label}".encode()).hexdigest()
    return Dataset(path=f"{source}#{label}", format="experiment", cases=cases, content_hash=digest)


def with_contexts(case: Case, contexts: list[dict] | None, gold_ids: list[str] | None = None,
                  **metadata) -> Case:
    """A copy of `case` asked with `contexts` (None: closed-book), extra metadata attached."""
    return Case(id=case.id, question=case.question, answers=list(case.answers),
                gold_ids=list(case.gold_ids if gold_ids is None else gold_ids),
                contexts=contexts, metadata={**case.metadata, **metadata})
