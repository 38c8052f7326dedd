"""Assertions on one model output: each returns an `Outcome` saying what it saw and why.

A check is a small function `(spec, judged, tools) -> Outcome`, registered by assertion type.
Outcomes are pass/fail; the case score is the weight-averaged share of assertions passed.
Checks that need a model (embedder, judge) get it from `Tools`, so tests can hand in fakes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from promptkit.safeparse import loads_json
from promptkit.testing.suite import (
    ASSERTION_TYPES,
    CaseSpec,
    CitesSpec,
    ContainsSpec,
    EqualsSpec,
    JsonSpec,
    LatencySpec,
    LengthSpec,
    MetricSpec,
    RegexSpec,
    RubricSpec,
    SimilarSpec,
)

_SHOW = 60   # characters of a value quoted in a label


@dataclass
class Outcome:
    """One assertion on one output."""

    type: str
    label: str            # what was asserted, e.g. "icontains-any ['Devlin', 'Google']"
    passed: bool
    message: str          # what was seen: "found 'Devlin'", "similarity 0.41 < 0.70"
    weight: float = 1.0
    value: float | None = None    # the measured number, where there is one
    error: bool = False           # could not be evaluated (counts as a failure)
    metric: str | None = None     # a `metric` assertion: which harness metric it applied
    higher_is_better: bool = True  # the direction of `value`

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Judged:
    """What the assertions look at: the output and what the pipeline knew when producing it."""

    text: str
    case: CaseSpec
    citations: list[dict] = field(default_factory=list)   # {"n", "chunk_id", "source", "kind"}
    contexts: list[str] = field(default_factory=list)     # passage texts shown to the model
    retrieved: list[dict] = field(default_factory=list)   # {"id", "source", "score", "rank"}
    latency_s: float | None = None
    latency_note: str = ""
    trace: dict = field(default_factory=dict)


@dataclass
class Tools:
    """Models the checks may need, created on demand by whoever runs the suite."""

    embedder: Callable[[str | None], Any] | None = None    # name (None: default) -> Embedder
    # (model spec or None for the default, generation params) -> judge(messages) -> reply text
    judge: Callable[[str | None, Any], Callable[[list[dict]], str]] | None = None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW else text[:_SHOW - 3] + "..."


def _values(spec: ContainsSpec, case: CaseSpec) -> list[str]:
    if spec.value is None:
        return case.expected
    return [spec.value] if isinstance(spec.value, str) else list(spec.value)


def check_equals(spec: EqualsSpec, j: Judged, tools: Tools) -> Outcome:
    got, want = j.text.strip(), spec.value.strip()
    same = got.casefold() == want.casefold() if spec.ignore_case else got == want
    return Outcome(spec.type, f"equals {_short(spec.value)}", same,
                   "output equals it" if same else f"output is {_short(got)}")


def check_contains(spec: ContainsSpec, j: Judged, tools: Tools) -> Outcome:
    kind = spec.type
    negate = kind.startswith("not-")
    fold = "icontains" in kind
    values = _values(spec, j.case)
    text = j.text.casefold() if fold else j.text
    found = [v for v in values if (v.casefold() if fold else v) in text]
    missing = [v for v in values if v not in found]
    if negate:
        passed = not found
        msg = "none present" if passed else f"found {_short(found)}"
    elif kind.endswith("-all"):
        passed = not missing
        msg = "all present" if passed else f"missing {_short(missing)}"
    else:   # plain contains / -any: one is enough
        passed = bool(found)
        msg = f"found {_short(found[0])}" if passed else "none found"
    shown = values[0] if len(values) == 1 and kind in ("contains", "icontains") else values
    return Outcome(kind, f"{kind} {_short(shown)}", passed, msg)


def check_regex(spec: RegexSpec, j: Judged, tools: Tools) -> Outcome:
    match = re.search(spec.pattern, j.text, re.IGNORECASE if spec.ignore_case else 0)
    passed = (match is None) if spec.type == "not-regex" else (match is not None)
    msg = f"matched {_short(match.group(0))}" if match else "no match"
    return Outcome(spec.type, f"{spec.type} /{spec.pattern}/", passed, msg)


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def check_json(spec: JsonSpec, j: Judged, tools: Tools) -> Outcome:
    label = "is-json" + (" with schema" if spec.json_schema else "")
    fenced = _FENCE.match(j.text)
    raw = fenced.group(1) if fenced else j.text
    try:
        data = loads_json(raw)
    except json.JSONDecodeError as exc:
        return Outcome(spec.type, label, False, f"not JSON: {exc.msg} at char {exc.pos}")
    if spec.json_schema is None:
        return Outcome(spec.type, label, True, f"parsed a {type(data).__name__}")
    import jsonschema

    errors = sorted(jsonschema.validators.validator_for(spec.json_schema)(spec.json_schema)
                    .iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        return Outcome(spec.type, label, False,
                       f"schema: {where}: {errors[0].message}"
                       + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
    return Outcome(spec.type, label, True, "valid against the schema")


def check_length(spec: LengthSpec, j: Judged, tools: Tools) -> Outcome:
    n = len(j.text) if spec.unit == "chars" else len(j.text.split())
    bounds = " ".join(part for part in (f">= {spec.min}" if spec.min is not None else "",
                                        f"<= {spec.max}" if spec.max is not None else "") if part)
    ok = (spec.min is None or n >= spec.min) and (spec.max is None or n <= spec.max)
    return Outcome(spec.type, f"length {bounds} {spec.unit}", ok, f"{n} {spec.unit}",
                   value=float(n))


def check_similar(spec: SimilarSpec, j: Judged, tools: Tools) -> Outcome:
    import numpy as np

    reference = spec.value if spec.value is not None else j.case.reference or ""
    label = f"similar to {_short(reference)} >= {spec.threshold:.2f}"
    if tools.embedder is None:
        return Outcome(spec.type, label, False, "no embedder available", error=True)
    embedder = tools.embedder(spec.embedder)
    if not j.text.strip():
        return Outcome(spec.type, label, False, "output is empty", value=0.0)
    vectors = np.asarray(embedder.embed_documents([j.text, reference]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    sim = float(vectors[0] @ vectors[1] / (norms[0] * norms[1])) if norms.all() else 0.0
    ok = sim >= spec.threshold
    return Outcome(spec.type, label, ok,
                   f"similarity {sim:.3f} {'>=' if ok else '<'} {spec.threshold:.2f}"
                   f" ({embedder.name})", value=sim)


def metric_case(j: Judged) -> dict:
    """The fields harness metrics read, from a suite case and what the pipeline did."""
    case = j.case
    latency = dict(j.trace.get("latency") or {})
    if j.latency_s is not None and (j.latency_note or "total_s" not in latency):
        # On replay the pipeline timed the replay; the time measured when recording is the
        # one worth judging.
        latency.update(total_s=j.latency_s, generate_s=j.latency_s)
    return {
        "id": case.id, "question": case.question, "answers": case.expected,
        # Gold ids in a suite are document sources, so retrieval metrics compare sources.
        "gold_ids": case.gold_docs or None,
        "retrieved_ids": [r.get("source") or r.get("id") for r in j.retrieved] or None,
        "contexts": j.contexts or None,
        "trace": {**j.trace, "latency": latency, "latency_s": j.latency_s},
    }


def check_metric(spec: MetricSpec, j: Judged, tools: Tools) -> Outcome:
    from promptkit.evaluation.metrics import get_metric

    options = dict(spec.options)
    if spec.name == "semantic_similarity" and "embedder" not in options and tools.embedder:
        options["embedder"] = tools.embedder(None)
    elif isinstance(options.get("embedder"), str) and tools.embedder:
        options["embedder"] = tools.embedder(options["embedder"])
    metric = get_metric(spec.name, **options)
    better = ">=" if metric.higher_is_better else "<="
    label = f"metric {spec.name} {better} {spec.threshold:g}"
    result = metric.evaluate(j.text, metric_case(j))
    about = {"metric": spec.name, "higher_is_better": metric.higher_is_better}
    if not result.ok:
        reason = result.detail.get("reason", result.outcome)
        return Outcome(spec.type, label, False, f"{result.outcome}: {reason}", error=True,
                       **about)
    v = result.value
    ok = v >= spec.threshold if metric.higher_is_better else v <= spec.threshold
    return Outcome(spec.type, label, ok, f"{spec.name} = {v:.3f}", value=v, **about)


_PROMPT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._-]+)?$")


def rubric_judge(spec: RubricSpec):
    """(rubric for LLMJudge, variables it needs, scale, judge generation params)."""
    if _PROMPT_REF.match(spec.rubric.strip()):
        from promptkit.prompts import load_prompt

        prompt = load_prompt(spec.rubric.strip())
        used = sorted(prompt.variables)
        return ((lambda values: prompt.render(**{k: values[k] for k in used})), used,
                spec.scale or (1.0, 5.0), prompt.gen_params(), f"{prompt.ref}#{prompt.hash[:12]}")
    scale = spec.scale or (0.0, 1.0)
    system = (f"{spec.rubric.strip()}\nReply with JSON only: "
              f'{{"{spec.key}": <number from {scale[0]:g} to {scale[1]:g}>, "reason": "..."}}')
    user = "Question: {question}\n\nAnswer to grade:\n{answer}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}], \
        None, scale, None, None


def check_rubric(spec: RubricSpec, j: Judged, tools: Tools) -> Outcome:
    from promptkit.evaluation.metrics_judge import LLMJudge

    label = f"llm-rubric {_short(spec.rubric)} >= {spec.threshold:.2f}"
    if tools.judge is None:
        return Outcome(spec.type, label, False, "no judge model available", error=True)
    rubric, variables, scale, params, ref = rubric_judge(spec)
    judge = LLMJudge(tools.judge(spec.judge, params), rubric, name="llm-rubric", key=spec.key,
                     scale=scale, variables=variables, rubric_ref=ref)
    # The judge compares with the full reference sentence when there is one.
    reference = [j.case.reference] if j.case.reference else j.case.answers
    case = {"question": j.case.question, "answers": reference, "contexts": j.contexts}
    result = judge.evaluate(j.text, case)
    if not result.ok:
        return Outcome(spec.type, label, False,
                       f"judge {result.outcome}: {result.detail.get('reason', '')}", error=True)
    ok = result.value >= spec.threshold
    reason = result.detail.get("reason") or ""
    return Outcome(spec.type, label, ok, f"judge score {result.value:.2f}"
                   + (f": {_short(reason)}" if reason else ""), value=result.value)


def check_latency(spec: LatencySpec, j: Judged, tools: Tools) -> Outcome:
    label = f"latency <= {spec.threshold:g}s"
    if j.latency_s is None:
        return Outcome(spec.type, label, False, "no latency measured", error=True)
    ok = j.latency_s <= spec.threshold
    note = f" ({j.latency_note})" if j.latency_note else ""
    return Outcome(spec.type, label, ok, f"{j.latency_s:.2f}s{note}", value=j.latency_s,
                   higher_is_better=False)


def check_cites(spec: CitesSpec, j: Judged, tools: Tools) -> Outcome:
    sources = [*spec.sources, *(j.case.gold_docs if spec.gold else [])]
    label = f"cites >= {spec.min}" + (f" from {_short(sources)}" if sources else "")
    # Only sources the model marked with [n] count here; attributed ones are promptkit's guess.
    marked = [c for c in j.citations if c.get("kind", "cited") == "cited"]
    cited = [f"[{_n(c)}] {c.get('source', '')}".strip() for c in marked]
    if len(marked) < spec.min:
        shown = f": {', '.join(cited)}" if cited else ""
        return Outcome(spec.type, label, False, f"{len(marked)} citation(s){shown}")
    if sources:
        hit = [c for c in marked if _source_matches(c.get("source", ""), sources)]
        if not hit:
            return Outcome(spec.type, label, False, f"cited only {', '.join(cited)}")
        return Outcome(spec.type, label, True, f"cites [{_n(hit[0])}] {hit[0]['source']}")
    return Outcome(spec.type, label, True, f"cites {', '.join(cited)}")


def _n(citation: dict) -> int:
    # Recorded before citations had a kind, the number was stored as "number".
    return citation.get("n", citation.get("number"))


def _source_matches(source: str, wanted: Iterable[str]) -> bool:
    # Sources may be stored as paths; a suite names files. Compare the last path parts.
    tail = source.replace("\\", "/").rsplit("/", 1)[-1]
    return any(w == source or w == tail or source.endswith("/" + w) for w in wanted)


CHECKS: dict[type, Callable[[Any, Judged, Tools], Outcome]] = {
    EqualsSpec: check_equals, ContainsSpec: check_contains, RegexSpec: check_regex,
    JsonSpec: check_json, LengthSpec: check_length, SimilarSpec: check_similar,
    MetricSpec: check_metric, RubricSpec: check_rubric, LatencySpec: check_latency,
    CitesSpec: check_cites,
}


def evaluate(specs: Sequence[Any], judged: Judged, tools: Tools | None = None) -> list[Outcome]:
    """Every assertion on one output, in order."""
    tools = tools or Tools()
    outcomes = []
    for spec in specs:
        outcome = CHECKS[type(spec)](spec, judged, tools)
        outcome.weight = spec.weight
        if spec.label:
            outcome.label = spec.label
        outcomes.append(outcome)
    return outcomes


def score(outcomes: Sequence[Outcome]) -> float:
    """Weighted share of assertions passed, 0..1."""
    total = math.fsum(o.weight for o in outcomes)
    return math.fsum(o.weight for o in outcomes if o.passed) / total if total else 0.0


def format_outcomes(outcomes: Sequence[Outcome], *, only_failed: bool = False) -> str:
    lines = []
    for o in outcomes:
        if only_failed and o.passed:
            continue
        mark = "PASS" if o.passed else ("ERROR" if o.error else "FAIL")
        weight = f" (weight {o.weight:g})" if o.weight != 1 else ""
        lines.append(f"  {mark:5} {o.label}{weight}: {o.message}")
    return "\n".join(lines)


def assert_prompt(output: Any, *assertions: dict, question: str = "(not given)",
                  reference: str | None = None, answers: Sequence[str] = (),
                  contexts: Sequence[str] | None = None,
                  tools: Tools | None = None) -> list[Outcome]:
    """Check an output (a string or a pipeline `Answer`) with assertions written as in a suite.

    `assert_prompt(answer, {"type": "icontains-any", "value": ["Devlin"]}, {"type": "cites"})`
    returns the outcomes, or raises AssertionError listing every failed one with the output.
    """
    from pydantic import ValidationError

    from promptkit.userfiles import Tagged, translate

    data = {"id": "inline", "question": question, "reference": reference,
            "answers": list(answers), "assert": list(assertions)}
    try:
        case = CaseSpec.model_validate(data)
    except ValidationError as exc:
        # The suites' translator: the same words for the same mistake, in a file or inline.
        raise translate(exc, CaseSpec, data=data, prefix=lambda _loc: "assert_prompt: ",
                        tagged=Tagged("type", "assertion", ASSERTION_TYPES)) from None
    text = getattr(output, "text", output)
    citations = [c if isinstance(c, dict) else asdict(c) for c in getattr(output, "citations", [])]
    from promptkit.pipeline import trace as traces

    trace = getattr(output, "trace", {}) or {}
    latency = traces.generate_seconds(trace)
    judged = Judged(str(text), case, citations=citations, contexts=list(contexts or []),
                    retrieved=traces.retrieved(trace),
                    latency_s=latency, trace=trace)
    outcomes = evaluate(case.assertions, judged, tools)
    if not all(o.passed for o in outcomes):
        raise AssertionError("assertions failed:\n" + format_outcomes(outcomes, only_failed=True)
                             + "\noutput:\n" + indent_output(str(text)))
    return outcomes


def indent_output(text: str, limit: int = 1200) -> str:
    """The judged output, quoted with a bar so blank lines and trailing spaces stay visible."""
    if len(text) > limit:
        text = text[:limit] + f" ... [{len(text) - limit} more characters]"
    return "\n".join(f"  | {line}" for line in (text.splitlines() or [""]))
