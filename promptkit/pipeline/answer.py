"""`Answer`: the text, the passages it cites, and the trace that reproduces it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from promptkit.pipeline.attribution import Citation, parse_citations

if TYPE_CHECKING:
    from promptkit.pipeline.trace import Trace

__all__ = ["Answer", "Citation", "parse_citations"]


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    trace: Trace = field(default_factory=dict)   # see promptkit.pipeline.trace
    # The parsed reply when the prompt declares an `output_schema` (None when the reply did
    # not fit it: trace["structured"] says why).
    data: Any = None

    @property
    def sources(self) -> list[str]:
        """Distinct sources, cited or attributed, in answer order."""
        return list(dict.fromkeys(c.source for c in self.citations))

    @property
    def supported(self) -> bool:
        """Whether any passage given supports the answer: a source that is not a weak marker."""
        weak = set(self.trace.get("unsupported_markers") or [])
        return any(c.n not in weak for c in self.citations)

    @property
    def cache_hit(self) -> bool:
        return bool(self.trace.get("cache_hit"))

    def to_dict(self) -> dict:
        """Plain JSON-serialisable data (run records, `promptkit ask --json`)."""
        return asdict(self)

    def __str__(self) -> str:
        return self.text
