"""The trace every answer carries, typed: what `Pipeline.ask` writes, and the readers that run
records, reports and suites use instead of spelling key paths themselves.

A trace stays plain JSON (run folders store it as is); these TypedDicts say which keys it has
and what they hold, so a type checker and a reader see the same shape the pipeline writes.
"""

from __future__ import annotations

from typing import Any, TypedDict


class PromptInfo(TypedDict):
    ref: str
    name: str
    version: int
    kind: str
    hash: str


class PassageRef(TypedDict, total=False):
    id: str
    source: str
    score: float | None
    rank: int | None
    position: int        # packed passages: their [n] in the prompt
    tokens: int
    truncated: bool


class RetrievalInfo(TypedDict):
    collection: str | None
    k: int
    mmr: bool
    hybrid: bool
    where: dict | None
    min_score: float | None
    rerank: dict | None          # model, candidates and their first-stage order
    retrieved: list[PassageRef]
    packed: list[PassageRef]
    dropped: list[str]


class ContextInfo(TypedDict):
    budget_tokens: int
    used_tokens: int
    prompt_overhead_tokens: int | None
    order: str
    exact_counts: bool           # counts from the model's own tokenizer, not an estimate


class Usage(TypedDict):
    prompt_tokens: int | None
    completion_tokens: int | None


class Latency(TypedDict, total=False):
    retrieve_s: float
    pack_s: float
    generate_s: float
    first_token_s: float | None
    total_s: float
    attribute_s: float


class Trace(TypedDict, total=False):
    mode: str                    # rag | closed-book | oracle
    question: str
    prompt: PromptInfo
    messages: list[dict]
    retrieval: RetrievalInfo | None
    context: ContextInfo | None
    model: dict[str, Any]        # the model's describe() and the generation params
    usage: Usage
    latency: Latency
    cache_hit: bool
    finish_reason: str | None
    attempts: int
    structured: dict             # with an output schema: how the reply was parsed
    citations: list[dict]
    unsupported_markers: list[int]


# ---- readers of a trace (an answer's, or a case record's `trace`); missing parts: None/[] ---

def retrieved(trace: Trace) -> list[PassageRef]:
    """The passages retrieval returned (after any rerank), best first."""
    return list((trace.get("retrieval") or {}).get("retrieved") or [])


def packed(trace: Trace) -> list[PassageRef]:
    """The passages the model read, in prompt order."""
    return list((trace.get("retrieval") or {}).get("packed") or [])


def generate_seconds(trace: Trace) -> float | None:
    """Seconds the model took to answer (retrieval and packing not counted)."""
    return (trace.get("latency") or {}).get("generate_s")


# ---- readers of a run record (`{"trace": {...}, ...}`) -----------------------------------

def of(record: dict) -> Trace:
    """The trace of a run record (`{"trace": {...}}`), or {} when it has none."""
    return record.get("trace") or {}


def prompt_tokens(record: dict) -> int | None:
    return (of(record).get("usage") or {}).get("prompt_tokens")


def used_context_tokens(record: dict) -> int | None:
    return (of(record).get("context") or {}).get("used_tokens")


def cache_hit(record: dict) -> bool:
    return bool(of(record).get("cache_hit"))


def mean_prompt_tokens(records: list[dict]) -> float | None:
    """Mean prompt tokens over the records that counted them (None: none did)."""
    values = [v for v in map(prompt_tokens, records) if v is not None]
    return round(sum(values) / len(values), 1) if values else None
