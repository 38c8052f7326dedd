"""The shapes every metric shares: `MetricResult`, `MetricCase`, the `Metric` base class."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

OUTCOMES = ("ok", "unparsable", "error")


@dataclass(frozen=True)
class MetricResult:
    """One metric on one case: a number when `outcome == "ok"`, otherwise None and a reason."""

    value: float | None
    outcome: str = "ok"
    detail: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.outcome == "ok":
            if self.value is None or not math.isfinite(self.value):
                raise ValueError(f"an 'ok' result needs a finite value, got {self.value!r}")
        elif self.value is not None:
            raise ValueError(f"a {self.outcome!r} result carries no value")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @classmethod
    def error(cls, reason: str, **detail: Any) -> MetricResult:
        return cls(None, "error", {"reason": reason, **detail})

    @classmethod
    def unparsable(cls, reason: str, **detail: Any) -> MetricResult:
        return cls(None, "unparsable", {"reason": reason, **detail})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> MetricResult:
        return cls(data.get("value"), data.get("outcome", "ok"), dict(data.get("detail") or {}))


@dataclass
class MetricCase:
    """What metrics read from a case; any object or dict with these names works too."""

    answers: list[str] = field(default_factory=list)
    question: str = ""
    gold_ids: list[str] | dict[str, float] | None = None
    retrieved_ids: list[str] | None = None
    contexts: list[str] | None = None
    trace: dict | None = None
    id: str | None = None


def case_field(case: Any, name: str, default: Any = None) -> Any:
    """Read `name` from a mapping or an object, so dataset records and dicts both work."""
    if isinstance(case, Mapping):
        value = case.get(name, default)
    else:
        value = getattr(case, name, default)
    return default if value is None else value


class Metric(ABC):
    """A named scorer. Capabilities are class attributes the comparison step reads."""

    name: str = ""
    binary: bool = False            # values are 0/1: compare with McNemar, count flips
    higher_is_better: bool = True   # False for latency and token counts

    @abstractmethod
    def evaluate(self, prediction: str, case: Any) -> MetricResult:
        """Score one prediction against one case."""

    def __repr__(self) -> str:
        return f"<metric {self.name}>"


def is_gold(chunk_id: Any, source: Any, gold: set[str]) -> bool:
    """Gold ids may name chunks (ids) or documents (file names; a source may be a path)."""
    src = str(source or "")
    return str(chunk_id) in gold or (bool(src) and (src in gold or PurePath(src).name in gold))
