"""`Answer`: the text, the passages it cites, and the trace that reproduces it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from promptkit.pipeline.pack import Packing

# "[2]", "[1, 3]", "[1][2]", "[2; 4]": numbers inside square brackets, comma/semicolon lists.
_MARKER = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")


@dataclass
class Citation:
    number: int        # the [n] in the answer
    id: str            # chunk id in the store
    source: str


def parse_citations(text: str, packing: Packing | None) -> list[Citation]:
    """Citations for the [n] markers that name a passage in the prompt, first mention first.

    Numbers with no passage behind them (a model inventing "[7]" when it saw four) are ignored:
    a citation must point at something the model was actually shown.
    """
    if packing is None:
        return []
    found: list[Citation] = []
    seen: set[int] = set()
    for match in _MARKER.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            packed = packing.chunk_for(n)
            if packed is not None and n not in seen:
                seen.add(n)
                found.append(Citation(n, packed.chunk.id, packed.chunk.source))
    return found


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    trace: dict = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        """Distinct sources cited, in citation order."""
        return list(dict.fromkeys(c.source for c in self.citations))

    @property
    def cache_hit(self) -> bool:
        return bool(self.trace.get("cache_hit"))

    def to_dict(self) -> dict:
        """Plain JSON-serialisable data (run records, `promptkit ask --json`)."""
        return asdict(self)

    def __str__(self) -> str:
        return self.text
