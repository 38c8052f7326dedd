"""LLM-as-judge: render a rubric, ask any backend, parse a JSON verdict, measure self-agreement.

The backend is a plain callable `judge(messages) -> str`, so any model (llama.cpp, Ollama, an
OpenAI-compatible server, a scripted fake) can judge. A verdict that does not parse is its own
outcome ("unparsable"), never a silent 0: flaky judges show up in the counts.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptkit.errors import UserError
from promptkit.evaluation.metrics_base import Metric, MetricResult, case_field
from promptkit.safeparse import raw_decode

JUDGE_VARIABLES = ("question", "answer", "reference", "context")
_TRUE = {"yes", "pass", "passed", "true", "correct", "faithful", "supported"}
_FALSE = {"no", "fail", "failed", "false", "incorrect", "unfaithful", "unsupported"}
_REASON_KEYS = ("reason", "reasoning", "explanation", "rationale")
_RAW_KEEP = 500   # characters of an unparsable reply kept in the run record for diagnosis


@dataclass(frozen=True)
class Verdict:
    """A parsed judge reply: `score` on the rubric's scale, `value` rescaled to 0..1."""

    outcome: str                  # "ok" or "unparsable"
    score: float | None = None
    value: float | None = None
    reason: str = ""


def _json_objects(text: str) -> list[dict]:
    """Every JSON object embedded in `text` (code fences and chatter around them are skipped)."""
    decoder, found, pos = json.JSONDecoder(), [], text.find("{")
    while pos != -1:
        try:
            obj, end = raw_decode(decoder, text, pos)
        except json.JSONDecodeError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        pos = text.find("{", end)
    return found


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return 1.0
        if word in _FALSE:
            return 0.0
        try:
            number = float(word)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def parse_verdict(text: str, *, key: str = "score",
                  scale: tuple[float, float] = (0.0, 1.0)) -> Verdict:
    """Find the JSON verdict in a judge's reply; anything doubtful is "unparsable" with a reason."""
    def bad(reason: str) -> Verdict:
        return Verdict("unparsable", reason=reason)

    objects = _json_objects(text or "")
    if not objects:
        return bad("no JSON object in the reply")
    # Keys are matched case-insensitively: judges write "Score" as often as "score".
    verdicts = [{k.lower(): v for k, v in obj.items()} for obj in objects]
    verdicts = [v for v in verdicts if key.lower() in v]
    if not verdicts:
        return bad(f"no '{key}' field in the JSON reply")
    scores = [_as_number(v[key.lower()]) for v in verdicts]
    if any(s is None for s in scores):
        return bad(f"'{key}' is not a number or yes/no: {verdicts[0][key.lower()]!r}")
    if len(set(scores)) > 1:
        # An echoed example plus the real verdict, or a judge changing its mind: refuse to guess.
        return bad(f"conflicting verdicts in one reply: {scores}")
    score, (low, high) = scores[0], scale
    if not low <= score <= high:
        return bad(f"'{key}' = {score:g} is outside the rubric's scale {low:g}..{high:g}")
    reason = next((str(verdicts[0][k]) for k in _REASON_KEYS if k in verdicts[0]), "")
    return Verdict("ok", score, (score - low) / (high - low), reason)


Rubric = Callable[[dict], list[dict]] | Sequence[Mapping[str, str]]


class LLMJudge(Metric):
    """Scores an answer with a judge model and a rubric; `repeats` > 1 measures self-agreement.

    `rubric` is either a callable `variables -> messages` (e.g. a versioned prompt's render)
    or chat messages whose contents mention `{question}`, `{answer}`, `{reference}`,
    `{context}`; only those placeholders are filled, so JSON examples in a rubric stay intact.
    """

    def __init__(self, judge: Callable[[list[dict]], str], rubric: Rubric, *,
                 name: str = "llm_judge", key: str = "score",
                 scale: Sequence[float] = (0.0, 1.0), repeats: int = 1,
                 variables: Sequence[str] | None = None, rubric_ref: str | None = None):
        if not isinstance(repeats, int) or repeats < 1:
            raise UserError(f"metric '{name}': repeats must be a positive integer, got {repeats!r}")
        if (isinstance(scale, str) or len(scale) != 2
                or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in scale)
                or not scale[0] < scale[1]):
            raise UserError(f"metric '{name}': scale must be [low, high] with low < high, "
                            f"got {scale!r}", hint="For a 1-5 rubric: scale: [1, 5]")
        low, high = float(scale[0]), float(scale[1])
        self.judge, self.rubric, self.name = judge, rubric, name
        self.key, self.scale, self.repeats, self.rubric_ref = key, (low, high), repeats, rubric_ref
        self.variables = self._variables_used(variables)

    def _variables_used(self, variables: Sequence[str] | None) -> tuple[str, ...]:
        if variables is not None:
            unknown = sorted(set(variables) - set(JUDGE_VARIABLES))
            if unknown:
                raise UserError(f"metric '{self.name}': unknown judge variable(s) {unknown}; "
                                f"known: {', '.join(JUDGE_VARIABLES)}")
            return tuple(variables)
        if callable(self.rubric):
            return JUDGE_VARIABLES
        text = " ".join(str(m.get("content", "")) for m in self.rubric)
        used = tuple(v for v in JUDGE_VARIABLES if "{" + v + "}" in text)
        if "answer" not in used:
            raise UserError(f"metric '{self.name}': the rubric never mentions {{answer}}, "
                            "so the judge would not see the answer it grades")
        return used

    def messages(self, prediction: str, case: Any) -> list[dict] | str:
        """The judge's chat messages for one case, or the reason they cannot be built."""
        answers = [str(a) for a in case_field(case, "answers", [])]
        values = {
            "question": str(case_field(case, "question", "")),
            "answer": prediction,
            "reference": answers[0] if len(answers) == 1 else "\n".join(f"- {a}" for a in answers),
            "context": "\n\n".join(str(c) for c in case_field(case, "contexts", [])),
        }
        missing = [v for v in self.variables if v != "answer" and not values[v].strip()]
        if missing:
            return f"case has no {', '.join(missing)} for the judge"
        variables = {v: values[v] for v in self.variables}
        if callable(self.rubric):
            return list(self.rubric(variables))
        rendered = []
        for message in self.rubric:
            content = str(message.get("content", ""))
            for name, value in variables.items():
                content = content.replace("{" + name + "}", value)
            rendered.append({**message, "content": content})
        return rendered

    def evaluate(self, prediction, case):
        if prediction is None:
            return MetricResult.error("no prediction (generation failed or was skipped)")
        messages = self.messages(str(prediction), case)
        if isinstance(messages, str):
            return MetricResult.error(messages)
        # Backend failures propagate: the runner retries or stops, it must not record a score.
        replies = [self.judge(messages) or "" for _ in range(self.repeats)]
        verdicts = [parse_verdict(r, key=self.key, scale=self.scale) for r in replies]
        parsed = [v for v in verdicts if v.outcome == "ok"]
        detail: dict[str, Any] = {
            "scores": [v.score for v in verdicts],
            "n_unparsable": len(verdicts) - len(parsed),
        }
        if self.rubric_ref:
            detail["rubric"] = self.rubric_ref
        if not parsed:
            return MetricResult.unparsable(verdicts[0].reason, **detail,
                                           raw=[r[:_RAW_KEEP] for r in replies])
        if len(parsed) < len(verdicts):
            detail["unparsable_reasons"] = [v.reason for v in verdicts if v.outcome != "ok"]
        detail["reason"] = parsed[0].reason
        value = math.fsum(v.value for v in parsed) / len(parsed)
        return MetricResult(value, detail=detail)


@dataclass(frozen=True)
class Agreement:
    """How consistently a judge repeats itself across a run."""

    n_cases: int              # cases with at least two parsed verdicts
    agreement: float | None   # share of those whose verdicts are all identical
    kappa: float | None       # Fleiss' kappa over cases where every repeat parsed
    n_verdicts: int
    n_unparsable: int         # verdicts (not cases) that did not parse


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (label, prediction) pairs; None when undefined (no pairs, or chance
    agreement is total)."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in set(first) | set(second)) / (n * n)
    if expected == 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa for items each rated by the same number of raters; None when undefined."""
    rows = [Counter(r) for r in ratings]
    if not rows:
        return None
    raters = sum(rows[0].values())
    if raters < 2 or any(sum(r.values()) != raters for r in rows):
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings per item")
    n_items = len(rows)
    observed = math.fsum(
        (sum(c * c for c in r.values()) - raters) / (raters * (raters - 1)) for r in rows
    ) / n_items
    totals: Counter = Counter()
    for r in rows:
        totals.update(r)
    expected = math.fsum((c / (n_items * raters)) ** 2 for c in totals.values())
    if expected == 1.0:
        return None   # every rating in one category: chance agreement is total, kappa undefined
    return (observed - expected) / (1.0 - expected)


def repeat_agreement(groups: Sequence[Sequence]) -> Agreement:
    """Pure: how the repeats of each item agree; one group of values per item, None for a
    repeat without a verdict (unparsable). The one self-agreement rule: for judge metrics in a
    run, for `judge-check`, and for any metric's repeats in a run summary.

    agreement: share of items with at least two verdicts whose verdicts are all the same;
    kappa: Fleiss' kappa over the items where every repeat gave a verdict (those with the most
    common number of repeats, as the statistic needs).
    """
    groups = [list(g) for g in groups]
    parsed = [[x for x in g if x is not None] for g in groups]
    repeated = [p for p in parsed if len(p) >= 2]
    agreement = (sum(len(set(p)) == 1 for p in repeated) / len(repeated)) if repeated else None
    full = [g for g in groups if len(g) >= 2 and None not in g]
    width = Counter(len(g) for g in full).most_common(1)
    try:
        kappa = fleiss_kappa([g for g in full if len(g) == width[0][0]]) if width else None
    except ValueError:
        kappa = None
    return Agreement(len(repeated), agreement, kappa, sum(len(g) for g in groups),
                     sum(g.count(None) for g in groups))


def self_agreement(results: Sequence[MetricResult]) -> Agreement:
    """Pure: agreement of repeated judge verdicts, from the `scores` each judge result records."""
    return repeat_agreement([r.detail.get("scores") or [] for r in results])
