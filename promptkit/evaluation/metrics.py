"""Per-case metrics: small objects with one `evaluate(prediction, case) -> MetricResult`.

Three parts, as in simple-evals: a metric scores one case, returns a small record, and a pure
`aggregate` turns a list of records into a summary. Configs name metrics by string through
`get_metric("token_f1")` / `get_metric("ndcg@10")`.

A case is anything with these attributes or mapping keys (`MetricCase` is the documented
shape): `answers`, and where a metric needs them `question`, `gold_ids`, `retrieved_ids`,
`contexts`, `trace`. A result is "ok" with a number, or "unparsable" / "error" with no
number and a reason in `detail` — never a silent 0 or NaN.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from promptkit.errors import MissingDependencyError, NotFoundError, UserError
from promptkit.evaluation.metrics_answer import Looping, Sourced, SourceGold
from promptkit.evaluation.metrics_base import (
    OUTCOMES,
    Metric,
    MetricCase,
    MetricResult,
    case_field,
)
from promptkit.evaluation.metrics_grounding import GROUNDING_METRICS
from promptkit.evaluation.metrics_judge import LLMJudge, parse_verdict, self_agreement
from promptkit.evaluation.metrics_retrieval import MRR, HitAtK, NDCGAtK, RecallAtK

__all__ = [
    "METRICS", "NORMALIZERS", "OUTCOMES", "LLMJudge", "Metric", "MetricCase", "MetricResult",
    "MetricSummary", "aggregate", "best_subspan_em", "case_field", "evaluate_all",
    "exact_match_score", "f1_score", "get_metric", "normalize_litm", "normalize_multi",
    "normalize_squad", "parse_verdict", "self_agreement",
]

# ---------------------------------------------------------------- answer normalisation

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")
# Spanish articles on top of the English ones: the project's datasets mix both languages.
_MULTI_ARTICLES = re.compile(r"\b(a|an|the|el|la|los|las|un|una|unos|unas)\b")


def _squad_steps(text: str, articles) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    text = articles.sub(" ", text)
    return " ".join(text.split())


def normalize_squad(text: str) -> str:
    """SQuAD v1.1's official normalisation: lower; drop ASCII punctuation, articles, spaces."""
    return _squad_steps(text, _EN_ARTICLES)


@functools.cache
def _litm_articles():
    # Lost in the Middle runs the same steps through the `regex` package, whose \b treats
    # combining marks, "½"-style numbers and a few symbols as word characters where `re`
    # does not; using the same package keeps best_subspan_em record-for-record identical.
    try:
        import regex
    except ImportError as exc:
        raise MissingDependencyError("the best_subspan_em metric", "eval") from exc
    return regex.compile(r"\b(a|an|the)\b")


def normalize_litm(text: str) -> str:
    """SQuAD normalisation as the Lost in the Middle code runs it (with the `regex` package)."""
    return _squad_steps(text, _litm_articles())


def _is_punct(ch: str) -> bool:
    # MLQA's evaluation uses every Unicode P* character plus string.punctuation, which
    # catches the inverted ¿ ¡, typographic quotes and dashes SQuAD's ASCII set misses.
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def normalize_multi(text: str) -> str:
    """SQuAD normalisation made accent- and punctuation-aware for Spanish (and English)."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and not _is_punct(ch))
    text = _MULTI_ARTICLES.sub(" ", text)
    return " ".join(text.split())


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "squad": normalize_squad,
    "multi": normalize_multi,
    "es": normalize_multi,
}


def _normalizer(name: str) -> Callable[[str], str]:
    if name not in NORMALIZERS:
        raise NotFoundError("normalisation", name, NORMALIZERS)
    return NORMALIZERS[name]


# ------------------------------------------------------------------ pure score functions

def exact_match_score(prediction: str, answer: str, normalize=normalize_squad) -> float:
    return float(normalize(prediction) == normalize(answer))


def f1_score(prediction: str, answer: str, normalize=normalize_squad) -> float:
    """Token F1 as SQuAD v1.1 defines it (no overlap is 0, even when both sides are empty)."""
    pred, gold = normalize(prediction).split(), normalize(answer).split()
    overlap = sum((Counter(pred) & Counter(gold)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def best_subspan_em(prediction: str, answers: Iterable[str]) -> float:
    """Lost in the Middle's metric: 1 if any normalised answer is a substring of the prediction."""
    pred = normalize_litm(prediction)
    return float(any(normalize_litm(answer) in pred for answer in answers))


def _best(fn: Callable[[str, str], float], prediction: str, answers: Sequence[str]):
    """(best score, the answer that gave it), as SQuAD's metric_max_over_ground_truths."""
    return max(((fn(prediction, a), a) for a in answers), key=lambda pair: pair[0])


def _inputs(prediction: Any, case: Any) -> tuple[str, list[str]] | MetricResult:
    if prediction is None:
        return MetricResult.error("no prediction (generation failed or was skipped)")
    answers = [str(a) for a in case_field(case, "answers", [])]
    if not answers:
        return MetricResult.error("case has no reference answers")
    return str(prediction), answers


# ------------------------------------------------------------------------ answer metrics

class ExactMatch(Metric):
    binary = True

    def __init__(self, normalize: str = "squad"):
        self._norm = _normalizer(normalize)
        self.name = "exact_match" if normalize == "squad" else f"exact_match_{normalize}"

    def evaluate(self, prediction, case):
        got = _inputs(prediction, case)
        if isinstance(got, MetricResult):
            return got
        value, answer = _best(partial(exact_match_score, normalize=self._norm), *got)
        return MetricResult(value, detail={"answer": answer} if value else {})


class TokenF1(Metric):
    def __init__(self, normalize: str = "squad"):
        self._norm = _normalizer(normalize)
        self.name = "token_f1" if normalize == "squad" else f"token_f1_{normalize}"

    def evaluate(self, prediction, case):
        got = _inputs(prediction, case)
        if isinstance(got, MetricResult):
            return got
        value, answer = _best(partial(f1_score, normalize=self._norm), *got)
        return MetricResult(value, detail={"answer": answer} if value else {})


class BestSubspanEM(Metric):
    """Scored as Lost in the Middle's evaluate_qa_responses.py does, first-line cut included."""

    name = "best_subspan_em"
    binary = True

    def __init__(self, first_line: bool = True):
        # The paper keeps only the first line so a model cannot score by copying the context.
        self.first_line = first_line

    def evaluate(self, prediction, case):
        got = _inputs(prediction, case)
        if isinstance(got, MetricResult):
            return got
        pred, answers = got
        if self.first_line:
            pred = pred.split("\n")[0].strip()
        return MetricResult(best_subspan_em(pred, answers))


class ContainsAny(Metric):
    """1 if any answer appears in the prediction as whole words, after normalisation."""

    name = "contains_any"
    binary = True

    def __init__(self, normalize: str = "multi"):
        self._norm = _normalizer(normalize)

    def evaluate(self, prediction, case):
        got = _inputs(prediction, case)
        if isinstance(got, MetricResult):
            return got
        if not any(self._norm(a) for a in got[1]):
            return MetricResult.error("every reference answer is empty after normalisation")
        answer = answer_found(got[0], got[1], self._norm)
        return MetricResult(0.0) if answer is None else MetricResult(1.0, detail={"answer": answer})


def answer_found(text: str, answers: Sequence[str],
                 norm: Callable[[str], str] = normalize_multi) -> str | None:
    """The first answer that occurs in `text` as whole words after `norm`, or None."""
    padded = f" {norm(text)} "   # padded so "cat" does not match "concatenate"
    for answer in answers:
        n = norm(answer)
        if n and f" {n} " in padded:
            return answer
    return None


class RougeL(Metric):
    """ROUGE-L F-measure over Unicode words, best over the reference answers.

    Same scores as Google's rouge-score on ASCII English; unlike it, accented and non-Latin
    text keeps its words (see `promptkit.evaluation.rouge`).
    """

    name = "rouge_l"

    def __init__(self, strip_accents: bool = True, use_stemmer: bool = False):
        self.strip_accents, self.use_stemmer = strip_accents, use_stemmer
        self._stemmer = None

    def evaluate(self, prediction, case):
        from promptkit.evaluation.rouge import porter_stemmer, rouge_l

        got = _inputs(prediction, case)
        if isinstance(got, MetricResult):
            return got
        if self.use_stemmer and self._stemmer is None:
            self._stemmer = porter_stemmer()

        def one(pred: str, answer: str) -> float:
            return rouge_l(pred, answer, fold_accents=self.strip_accents, stemmer=self._stemmer)

        value, answer = _best(one, *got)
        return MetricResult(value, detail={"answer": answer})


class SemanticSimilarity(Metric):
    """Cosine similarity of embeddings, best over the reference answers."""

    name = "semantic_similarity"

    def __init__(self, embedder):
        self.embedder = embedder

    def evaluate(self, prediction, case):
        got = _inputs(prediction, case)
        if isinstance(got, MetricResult):
            return got
        import numpy as np

        pred, answers = got
        vectors = np.asarray(self.embedder.embed_documents([pred, *answers]), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        if norms[0] == 0:
            return MetricResult(0.0, detail={"reason": "prediction embeds to a zero vector"})
        sims = [float(vectors[0] @ v / (norms[0] * n)) if n else 0.0
                for v, n in zip(vectors[1:], norms[1:], strict=True)]
        best = max(range(len(sims)), key=sims.__getitem__)
        return MetricResult(max(-1.0, min(1.0, sims[best])), detail={"answer": answers[best]})


# ---------------------------------------------------------------------- trace metrics

def _trace_value(trace: Mapping, path: str) -> Any:
    """`path` is a key, or a dotted path into nested dicts ("generation.latency_s")."""
    value: Any = trace
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


class Latency(Metric):
    """Seconds the case took, read from its trace."""

    name = "latency"
    higher_is_better = False

    # Default: the pipeline's trace ({"latency": {"total_s": ...}}).
    def __init__(self, key: str = "latency.total_s"):
        self.key = key

    def evaluate(self, prediction, case):
        value = _trace_value(case_field(case, "trace", {}), self.key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return MetricResult.error(f"trace has no number at '{self.key}'")
        return MetricResult(float(value))


class Tokens(Metric):
    """Token count from the trace: prompt, completion, or their total."""

    name = "tokens"
    higher_is_better = False
    _PARTS = {"prompt": ("prompt_tokens",), "completion": ("completion_tokens",),
              "total": ("prompt_tokens", "completion_tokens")}

    # Default: the pipeline's trace ({"usage": {"prompt_tokens": ..., ...}}).
    def __init__(self, part: str = "total", prefix: str = "usage."):
        if part not in self._PARTS:
            raise NotFoundError("token count", part, self._PARTS)
        self.part, self.prefix = part, prefix   # prefix: e.g. "generation." for a nested trace
        self.name = "tokens" if part == "total" else f"{part}_tokens"

    def evaluate(self, prediction, case):
        trace = case_field(case, "trace", {})
        total = 0
        for key in self._PARTS[self.part]:
            value = _trace_value(trace, self.prefix + key)
            if not isinstance(value, int) or isinstance(value, bool):
                return MetricResult.error(f"trace has no token count at '{self.prefix + key}'")
            total += value
        return MetricResult(float(total))


# --------------------------------------------------------------- registry and aggregation

METRICS: dict[str, Callable[..., Metric]] = {
    "exact_match": ExactMatch,
    "exact_match_multi": partial(ExactMatch, normalize="multi"),
    "token_f1": TokenF1,
    "token_f1_multi": partial(TokenF1, normalize="multi"),
    "best_subspan_em": BestSubspanEM,
    "contains_any": ContainsAny,
    "rouge_l": RougeL,
    "semantic_similarity": SemanticSimilarity,
    "hit_at_k": HitAtK,
    "recall_at_k": RecallAtK,
    "mrr": MRR,
    "ndcg_at_k": NDCGAtK,
    "latency": Latency,
    "tokens": Tokens,
    "llm_judge": LLMJudge,
    "looping": Looping,
    "sourced": Sourced,
    "source_gold": SourceGold,
    **GROUNDING_METRICS,   # faithfulness, answer_relevancy, context_*, citation_*
}
# "ndcg@10" is shorthand for get_metric("ndcg_at_k", k=10).
_AT_K = {"hit": "hit_at_k", "recall": "recall_at_k", "mrr": "mrr", "ndcg": "ndcg_at_k"}


def get_metric(name: str, /, **options: Any) -> Metric:
    """Build a metric from its registry name (and options, as a config gives them)."""
    prefix, at, k = name.partition("@")
    if at:
        if prefix not in _AT_K or not k.isdigit():
            raise NotFoundError("metric", name, [*METRICS, *(f"{p}@K" for p in _AT_K)])
        name, options = _AT_K[prefix], {**options, "k": int(k)}
    if name not in METRICS:
        raise NotFoundError("metric", name, [*METRICS, *(f"{p}@K" for p in _AT_K)])
    factory = METRICS[name]
    # Check options against the signature first, so a typo in a config reads as the user's
    # mistake rather than a TypeError from deep inside a constructor.
    signature = inspect.signature(factory)
    try:
        signature.bind(**options)
    except TypeError as exc:
        allowed = ", ".join(signature.parameters) or "none"
        raise UserError(f"metric '{name}': {exc}", hint=f"Options it takes: {allowed}.") from exc
    return factory(**options)


def evaluate_all(metrics: Sequence[Metric], prediction: str, case: Any) -> dict[str, MetricResult]:
    """Every metric on one case, keyed by metric name."""
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise UserError(f"metric names must be unique; repeated: {', '.join(dupes)}")
    return {m.name: m.evaluate(prediction, case) for m in metrics}


@dataclass(frozen=True)
class MetricSummary:
    """A metric over a run: the mean of its ok results with a CI (Wilson for 0/1 metrics,
    bootstrap otherwise: `stats.mean_ci`), and outcome counts."""

    name: str
    n: int
    n_ok: int
    n_unparsable: int
    n_error: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    alpha: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)


def aggregate(name: str, results: Sequence[MetricResult], *, ci: bool = True,
              alpha: float = 0.05, n_resamples: int = 2000, seed: int = 0,
              binary: bool | None = None) -> MetricSummary:
    """Pure: per-case results -> summary; unparsable and error are counted, not averaged.
    Each result is one case; the numbers come from the harness's aggregation step
    (`aggregate.metric_summary`), so a list of results and a run of the same values get the
    same interval."""
    from promptkit.evaluation.aggregate import metric_summary

    records = [{"id": f"{i:09d}", "scores": {name: {"value": r.value, "outcome": r.outcome}}}
               for i, r in enumerate(results)]
    counts = Counter(r.outcome for r in results)
    mean = low = high = None
    if ci:
        s = metric_summary(records, name, seed=seed, alpha=alpha, binary=binary,
                           n_resamples=n_resamples)
        mean, low, high = s["mean"], s["ci_low"], s["ci_high"]
    elif values := [r.value for r in results if r.ok]:
        mean = math.fsum(values) / len(values)
    return MetricSummary(name, len(results), counts["ok"], counts["unparsable"], counts["error"],
                         mean, low, high, alpha)
