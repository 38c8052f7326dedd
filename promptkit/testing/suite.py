"""Regression suites: the YAML files in `eval/suites/`, validated strictly.

A suite names the prompt version(s) under test, the model, how passages are found, and cases
with assertions. A mistake in the file is a `ConfigError` naming the file, the line, the case
and the field; pydantic's own wording never reaches the user.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from promptkit.choices import Mode
from promptkit.settings import GenerationSettings, RetrievalSettings
from promptkit.userfiles import StrictModel

CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
GATE_ID = "gate"   # the per-suite gate item; no case may take this id
FORMAT_HINT = ("The suite format is described in docs/tasks/ci.md ('A suite file'); "
               "`promptkit schema suite` prints the JSON Schema for editors.")


class _Strict(StrictModel):
    # A typo in a suite ("treshold:") must be an error, not an assertion that never runs.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Assertion(_Strict):
    weight: float = Field(default=1.0, gt=0)   # share of the case score this assertion carries
    label: str | None = None                   # shown in reports instead of the generated one


CONTAINS_KINDS = ("contains", "icontains", "contains-any", "contains-all", "icontains-any",
                  "icontains-all", "not-contains", "not-icontains")


class EqualsSpec(_Assertion):
    type: Literal["equals"]
    value: str
    ignore_case: bool = False


class ContainsSpec(_Assertion):
    """Substring checks. Without `value` the case's `answers` (or `reference`) are used."""

    type: Literal[CONTAINS_KINDS]  # type: ignore[valid-type]
    value: str | list[str] | None = None


class RegexSpec(_Assertion):
    type: Literal["regex", "not-regex"]
    pattern: str
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class JsonSpec(_Assertion):
    """The output parses as JSON (a ```json fence is allowed) and, optionally, fits a schema."""

    type: Literal["is-json"]
    json_schema: dict | None = Field(default=None, alias="schema")

    @field_validator("json_schema")
    @classmethod
    def _schema_ok(cls, v: dict | None) -> dict | None:
        if v is not None:
            import jsonschema

            try:
                jsonschema.validators.validator_for(v).check_schema(v)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"not a valid JSON schema: {exc.message}") from None
        return v


class LengthSpec(_Assertion):
    type: Literal["length"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    unit: Literal["chars", "words"] = "chars"

    @model_validator(mode="after")
    def _bounds(self) -> LengthSpec:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


class SimilarSpec(_Assertion):
    """Cosine similarity of the output to `value` (default: the case's reference) >= threshold."""

    type: Literal["similar"]
    value: str | None = None
    threshold: float = Field(default=0.7, ge=-1.0, le=1.0)
    embedder: str | None = None


class MetricSpec(_Assertion):
    """Any harness metric (`get_metric` name) compared with `threshold` in its better direction."""

    type: Literal["metric"]
    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    threshold: float

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from promptkit.evaluation.metrics import METRICS

        prefix, at, k = v.partition("@")
        known = [m for m in METRICS if m != "llm_judge"]
        if v == "llm_judge":
            raise ValueError("use an assertion of type llm-rubric for a judge")
        if (at and prefix in ("hit", "recall", "mrr", "ndcg") and k.isdigit()) or v in known:
            return v
        close = difflib.get_close_matches(v, known, n=1)
        guess = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"unknown metric '{v}'{guess}; known: {', '.join(known)}, "
                         "hit@K, recall@K, mrr@K, ndcg@K")


class RubricSpec(_Assertion):
    """An LLM judge's score, rescaled to 0..1, >= threshold.

    `rubric` is a prompt reference (judge-correctness@2) or inline instructions; inline text
    may mention {question}, {answer}, {reference} and {context}.
    """

    type: Literal["llm-rubric"]
    rubric: str
    judge: str | None = None            # model spec; default: the suite's judge, else its model
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    scale: tuple[float, float] | None = None   # default 1..5 for prompt rubrics, 0..1 inline
    key: str = "score"


class LatencySpec(_Assertion):
    """Seconds the model took to answer <= threshold (replay: the time measured when recorded)."""

    type: Literal["latency"]
    threshold: float = Field(gt=0)


class CitesSpec(_Assertion):
    """At least `min` [n] citations of passages shown; optionally one from `sources` (or from
    the case's `gold_docs`, with `gold: true`)."""

    type: Literal["cites"]
    min: int = Field(default=1, ge=1)
    sources: list[str] = Field(default_factory=list)
    gold: bool = False


Assertion = Annotated[
    EqualsSpec | ContainsSpec | RegexSpec | JsonSpec | LengthSpec | SimilarSpec | MetricSpec
    | RubricSpec | LatencySpec | CitesSpec,
    Field(discriminator="type"),
]
ASSERTION_TYPES = ("equals", *CONTAINS_KINDS, "regex", "not-regex", "is-json", "length",
                   "similar", "metric", "llm-rubric", "latency", "cites")


class CaseSpec(_Strict):
    id: str
    question: str
    description: str = ""
    context: str | list[str] | None = None   # given passages: the case runs in oracle mode
    collection: str | None = None            # retrieve from this collection instead
    reference: str | None = None             # a reference answer (similar, judges, metrics)
    answers: list[str] = Field(default_factory=list)    # acceptable short answers
    gold_docs: list[str] = Field(default_factory=list)  # sources that hold the answer
    critical: bool | None = None
    pass_score: float | None = Field(default=None, gt=0.0, le=1.0)   # default: the suite's
    skip_defaults: bool = False               # the suite's defaults.assert do not apply
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str) -> str:
        if not CASE_ID_RE.match(v):
            raise ValueError(f"'{v}' is not a valid case id (letters, digits, '.', '_', '-')")
        if v == GATE_ID:
            raise ValueError(f"'{GATE_ID}' is reserved for the suite's baseline gate")
        return v

    @field_validator("question")
    @classmethod
    def _question_ok(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the question is empty")
        return v

    @property
    def contexts(self) -> list[str] | None:
        return [self.context] if isinstance(self.context, str) else self.context

    @property
    def expected(self) -> list[str]:
        """Answers that count as right: `answers`, else the reference."""
        return self.answers or ([self.reference] if self.reference else [])


class RetrievalSpec(RetrievalSettings):
    # A typo must be an error here too; aliases as in every suite model.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # collection, k, order, mmr, hybrid, rerank, rerank_candidates: settings.RetrievalSettings
    corpus: str | None = None      # folder ingested (incrementally) before the first case
    embedder: str | None = None
    chunk_tokens: int | None = Field(default=None, ge=16)   # ingest settings; default: the store's
    overlap: int | None = Field(default=None, ge=0)
    # The rerank stage's scores are recorded like hits, so a replay run needs no cross-encoder.


class ParamsSpec(GenerationSettings):
    """Overrides of the prompt's own generation parameters (max_tokens, temperature: as in
    every file, settings.GenerationSettings), and the sampling seed."""

    seed: int | None = None


class GateSpec(_Strict):
    # What is compared per case: `pass` (passed or not: exact McNemar; the share of repeats
    # passed when there are repeats) or `score` (weighted share of assertions: permutation test).
    metric: Literal["pass", "score"] = "pass"
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)   # floor for the metric's mean


class DefaultsSpec(_Strict):
    critical: bool = False
    # A case passes when its weighted score reaches this; 1.0 means every assertion passes.
    pass_score: float = Field(default=1.0, gt=0.0, le=1.0)
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")


class SuiteSpec(_Strict):
    name: str
    description: str = ""
    prompts: list[str] = Field(min_length=1)
    prompts_dir: str | None = None    # extra prompt folder, relative to the suite file
    model: str | None = None          # default: $PROMPTKIT_MODEL, else the packaged model
    judge: str | None = None          # default judge for llm-rubric assertions
    mode: Mode = "rag"
    retrieval: RetrievalSpec | None = None
    embedder: str | None = None       # for `similar`; default: the retrieval embedder
    params: ParamsSpec = Field(default_factory=ParamsSpec)
    repeats: int = Field(default=1, ge=1)
    recordings: str | None = None     # default: ../recordings/<name>.jsonl beside the suite
    baseline: str | None = None       # default: ../baselines/<name>.json beside the suite
    gate: GateSpec = Field(default_factory=GateSpec)
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    cases: list[CaseSpec] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not CASE_ID_RE.match(v):
            raise ValueError(f"'{v}' is not a valid suite name (letters, digits, '.', '_', '-')")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SuiteSpec:
        seen: dict[str, int] = {}
        for i, case in enumerate(self.cases):
            if case.id in seen:
                raise _Problem(f"cases[{i}].id",
                               f"case id '{case.id}' is also used by cases[{seen[case.id]}]")
            seen[case.id] = i
            self._check_case(i, case)
        return self

    def _check_case(self, i: int, case: CaseSpec) -> None:
        where = f"cases[{i}]"
        if not case.assertions and (case.skip_defaults or not self.defaults.assertions):
            raise _Problem(f"{where}.assert", "the case has no assertions (and the suite no "
                                              "defaults.assert)")
        if self.mode == "closed-book" and (case.context or case.collection):
            raise _Problem(f"{where}.context", "a closed-book suite takes no context")
        if self.mode == "oracle" and not case.context:
            raise _Problem(f"{where}.context", "an oracle suite needs the passages in 'context'")
        if (self.mode == "rag" and not case.context and not case.collection
                and self.retrieval is None):
            raise _Problem(f"{where}.context", "give the passages ('context'), a 'collection', "
                                               "or a suite-level 'retrieval' block")
        for j, spec in enumerate(case.assertions):
            self._check_assertion(f"{where}.assert[{j}]", spec, case)
        for j, spec in enumerate([] if case.skip_defaults else self.defaults.assertions):
            self._check_assertion(f"{where} (from defaults.assert[{j}])", spec, case)

    @staticmethod
    def _check_assertion(where: str, spec: Any, case: CaseSpec) -> None:
        if isinstance(spec, ContainsSpec) and spec.value is None and not case.expected:
            raise _Problem(where, f"{spec.type} has no 'value' and the case has no 'answers' "
                                  "or 'reference' to use instead")
        if isinstance(spec, SimilarSpec) and spec.value is None and not case.reference:
            raise _Problem(where, "similar has no 'value' and the case no 'reference'")
        if isinstance(spec, CitesSpec) and spec.gold and not case.gold_docs:
            raise _Problem(where, "cites with gold: true needs the case's 'gold_docs'")

    def case(self, case_id: str) -> CaseSpec:
        return next(c for c in self.cases if c.id == case_id)

    def assertions_for(self, case: CaseSpec) -> list:
        return [*([] if case.skip_defaults else self.defaults.assertions), *case.assertions]

    def is_critical(self, case: CaseSpec) -> bool:
        return self.defaults.critical if case.critical is None else case.critical

    def pass_score(self, case: CaseSpec) -> float:
        return self.defaults.pass_score if case.pass_score is None else case.pass_score


class _Problem(ValueError):
    """A cross-field problem that knows which field it is about."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class Suite:
    """A loaded suite: the validated spec plus where it came from."""

    def __init__(self, spec: SuiteSpec, path: Path):
        self.spec, self.path = spec, path

    def __repr__(self) -> str:
        return f"Suite({self.spec.name!r}, {str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def recordings_path(self) -> Path:
        return self.resolve(self.spec.recordings or f"../recordings/{self.name}.jsonl")

    @property
    def baseline_path(self) -> Path:
        return self.resolve(self.spec.baseline or f"../baselines/{self.name}.json")

    def resolve(self, relative: str) -> Path:
        """A path written in the suite, relative to the suite file."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.path.parent / p).resolve()


def load_suite(path: str | Path) -> Suite:
    """Read and validate one suite file."""
    from promptkit.prompts.loading import read_yaml

    path = Path(path)
    text, data = read_yaml(path)
    data.setdefault("name", path.stem)
    if "prompt" in data and "prompts" not in data:   # one prompt may be written singular
        data["prompts"] = [data.pop("prompt")]
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        from promptkit.userfiles import Tagged, translate

        raise translate(exc, SuiteSpec, path=path, text=text, data=data, hint=FORMAT_HINT,
                        tagged=Tagged("type", "assertion", ASSERTION_TYPES),
                        prefix=lambda loc: _case_prefix(loc, data), max_also=3) from None
    return Suite(spec, path)


def _case_prefix(loc: tuple, data: dict) -> str:
    """Which case a location belongs to, as errors name it: "case 'refunds': "."""
    if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
        cases = data.get("cases")
        if isinstance(cases, list) and loc[1] < len(cases) and isinstance(cases[loc[1]], dict):
            case_id = cases[loc[1]].get("id")
            if case_id is not None:
                return f"case '{case_id}': "
        return f"case #{loc[1] + 1}: "
    return ""
