"""A retrieved chunk: what the pipeline packs into a prompt and what a trace records."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hit:
    """One search result. `score` is the ranking score of the mode used (cosine similarity for
    dense and MMR search, reciprocal-rank-fusion score for hybrid); `rank` starts at 1.
    `metadata` holds title, chunk (index), start/end (character offsets), file, and for every
    mode `similarity` (cosine to the query)."""

    id: str
    text: str
    source: str
    score: float
    rank: int
    metadata: dict = field(default_factory=dict, hash=False)

    @property
    def title(self) -> str:
        return str(self.metadata.get("title", ""))

    def to_dict(self) -> dict:
        return {"id": self.id, "rank": self.rank, "score": self.score, "source": self.source,
                "text": self.text, "metadata": dict(self.metadata)}
