"""The record a run folder keeps per case and repeat (one line of cases.jsonl), typed.

Evaluation runs, experiment cells, suite runs and retrieval benchmarks all write this shape;
aggregation, comparison, the breakdown and the reports read it through `score_of`. Records stay
plain JSON; these TypedDicts say which keys they have and what the keys hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from promptkit.pipeline.trace import Trace


class Score(TypedDict, total=False):
    """One metric on one record: `MetricResult.to_dict()`."""

    value: float | None          # None unless outcome is "ok"
    outcome: str                 # ok | unparsable | error
    detail: dict[str, Any]


class RunRecord(TypedDict, total=False):
    id: str                      # the case id; with `repeat`, the record's key
    repeat: int
    question: str
    scores: dict[str, Score]     # metric name -> its score
    # What an evaluation run (and an experiment cell) adds
    answers: list[str]
    gold_ids: list[str] | dict[str, float] | None
    answer: str | None
    citations: list[dict]
    contexts: list[dict]
    trace: Trace
    elapsed_s: float
    finished_at: str
    error: str                   # the case failed before it could be scored
    # A suite run's
    prompt: str
    critical: bool
    latency_s: float
    # A retrieval benchmark's (gold_ids then holds the qrels' grades)
    retrieved_ids: list[str]


def score_of(record: RunRecord, metric: str) -> Score | None:
    """The record's score for `metric`; None when the record has none."""
    return (record.get("scores") or {}).get(metric)


def metrics_in(records: list[RunRecord]) -> list[str]:
    """Every metric some record was scored on, sorted."""
    return sorted({m for rec in records for m in rec.get("scores") or {}})


__all__ = ["RunRecord", "Score", "metrics_in", "score_of"]
