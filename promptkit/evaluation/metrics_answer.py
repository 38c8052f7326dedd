"""Metrics on the answer as a reader sees it: does it loop, does it carry a source.

- `looping`: 1 when some word 4-gram occurs 3 or more times (degenerate repetition, the way
  small models fail at temperature 0); lower is better.
- `sourced`: 1 when the answer has at least one source, cited `[n]` or attributed.
- `source_gold`: 1 when the answer's first source is a gold passage or document; cases with
  no gold are errors (not scored), answers with no source score 0.
"""

from __future__ import annotations

import re
from collections import Counter

from promptkit.evaluation.metrics_base import Metric, MetricResult, case_field, is_gold

_WORDS = re.compile(r"\w+", re.UNICODE)
LOOP_N, LOOP_TIMES = 4, 3


def repeated_ngram(text: str, n: int = LOOP_N, times: int = LOOP_TIMES) -> str | None:
    """The first word n-gram occurring `times` or more, or None."""
    words = _WORDS.findall(text.lower())
    grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    for gram, count in grams.items():
        if count >= times:
            return " ".join(gram)
    return None


class Looping(Metric):
    name = "looping"
    binary = True
    higher_is_better = False

    def evaluate(self, prediction, case):
        gram = repeated_ngram(prediction or "")
        return MetricResult(1.0, detail={"ngram": gram}) if gram else MetricResult(0.0)


def _citations(case) -> list[dict]:
    trace = case_field(case, "trace", {}) or {}
    return [c for c in trace.get("citations") or [] if isinstance(c, dict)]


class Sourced(Metric):
    name = "sourced"
    binary = True

    def evaluate(self, prediction, case):
        cites = _citations(case)
        return MetricResult(1.0 if cites else 0.0,
                            detail={"kinds": sorted({c.get("kind", "cited") for c in cites})})


class SourceGold(Metric):
    name = "source_gold"
    binary = True

    def evaluate(self, prediction, case):
        gold = case_field(case, "gold_ids")
        if not gold:
            return MetricResult.error("the case names no gold passages or documents")
        gold = {str(g) for g in gold}
        cites = _citations(case)
        if not cites:
            return MetricResult(0.0, detail={"first": None})
        first = cites[0]
        return MetricResult(1.0 if is_gold(first.get("chunk_id"), first.get("source"), gold)
                            else 0.0,
                            detail={"first": first.get("source"), "kind": first.get("kind")})
