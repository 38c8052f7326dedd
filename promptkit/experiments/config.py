"""The experiment config file (YAML): one study, expanded into cells that the harness runs.

Users write these files, so every model forbids unknown keys, and only the settings block of
the chosen `kind` may appear: a `needle:` block in a position experiment is a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from promptkit.choices import ORDERS, Order
from promptkit.embedders import FAST
from promptkit.errors import ConfigError
from promptkit.evaluation.config import (
    CacheMode,
    MetricConfig,
    MetricList,
    resolve_beside,
    settings_fingerprint,
)
from promptkit.settings import GENERATION_KEYS, GenerationSettings, RerankSettings
from promptkit.userfiles import StrictModel

# Generation settings a cell may override (settings.GenerationSettings; the sampling seed is the
# experiment's `seed`); anything else in `params` is a typo.
PARAM_KEYS = GENERATION_KEYS


_Strict = StrictModel


class DataConfig(_Strict):
    """Questions with answers and passages: a LITM file, the project's JSONL, SQuAD, ..."""

    path: str
    loader: Literal["auto", "jsonl", "squad", "litm"] = "auto"
    # Usable cases to keep (cases that cannot be built, e.g. too few distractors, don't count).
    limit: int | None = Field(default=None, ge=1)
    # Cut every passage to this many of the target model's tokens (None: keep whole), so that
    # N passages fit a small context window.
    passage_tokens: int | None = Field(default=None, ge=8)


class RetrievalConfig(RerankSettings):
    """Where ranked passages come from for k-sweep, ordering and corpus-built positions."""

    # pool: rank each case's own passages (LITM's 20) with an embedder;
    # collection: search a Chroma collection built with `promptkit ingest`.
    source: Literal["pool", "collection"] = "pool"
    embedder: str = FAST
    collection: str | None = None
    # rerank, rerank_candidates (settings.RerankSettings): reorder the candidates before the
    # top k are taken.


class PositionSettings(_Strict):
    n_docs: int = Field(default=5, ge=2)
    positions: list[int] | None = None          # 0-based; None: every position
    closed_book: bool = True
    oracle: bool = True
    closed_book_prompt: str = "closed-book@production"

    @field_validator("positions")
    @classmethod
    def _unique(cls, value):
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError("must be a non-empty list of distinct positions")
        return value


class Needle(_Strict):
    text: str                       # the sentence hidden in the haystack
    question: str
    answers: list[str] = Field(min_length=1)


class HaystackConfig(_Strict):
    # Text files or folders (any format the ingest reads), or a dataset whose passages are used.
    paths: list[str] = Field(default_factory=list)
    dataset: str | None = None
    limit: int | None = Field(default=None, ge=1)    # dataset cases whose passages are read


class NeedleSettings(_Strict):
    haystack: HaystackConfig
    needles: list[Needle] = Field(min_length=1)
    context_lengths: list[int] = Field(min_length=1)     # in the target model's tokens
    depths: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], min_length=1)
    samples: int = Field(default=1, ge=1)       # haystack variants (start offsets) per needle
    # single: one needle per haystack; all: every needle hidden, one asked (the others distract).
    mode: Literal["single", "all"] = "single"

    @field_validator("depths")
    @classmethod
    def _fractions(cls, value):
        if any(not 0.0 <= d <= 1.0 for d in value):
            raise ValueError("depths are fractions of the context, from 0.0 (start) to 1.0 (end)")
        return value

    @field_validator("context_lengths")
    @classmethod
    def _positive(cls, value):
        if any(n < 16 for n in value):
            raise ValueError("context lengths are token counts of at least 16")
        return value


def passage_counts(value: list[int], *, least: int) -> list[int]:
    """A list of numbers of passages: distinct, each at least `least`; sorted."""
    if any(n < least for n in value) or len(set(value)) != len(value):
        raise ValueError(f"must be distinct numbers of passages, each at least {least}")
    return sorted(value)


class KSweepSettings(_Strict):
    ks: list[int] = Field(default_factory=lambda: [1, 2, 3, 5, 8], min_length=1)

    _ks = field_validator("ks")(lambda value: passage_counts(value, least=1))


class OrderingSettings(_Strict):
    k: int = Field(default=5, ge=2)
    orders: list[Order] = Field(default_factory=lambda: list(ORDERS), min_length=2)
    baseline: Order = "ranked"


class FewShotSettings(_Strict):
    prompt: str = "grounded-fewshot@1"
    n: list[int] = Field(default_factory=lambda: [1, 3, 5])
    selection: list[Literal["fixed", "random", "semantic"]] = Field(
        default_factory=lambda: ["fixed", "random", "semantic"])
    embedder: str = FAST              # semantic selection compares questions with it


class PersonaSettings(_Strict):
    roles: list[str] = Field(default_factory=lambda: ["helpful assistant", "lawyer", "historian"])
    forms: list[Literal["speaker", "audience"]] = Field(
        default_factory=lambda: ["speaker", "audience"])
    speaker_prompt: str = "persona-speaker@1"      # "You are a {role}."
    audience_prompt: str = "persona-audience@1"    # "You are talking to a {role}."


class PromptKindsSettings(_Strict):
    control: str = "persona-none@1"     # zero-shot, no persona: what every cell is compared to
    few_shot: FewShotSettings | None = Field(default_factory=FewShotSettings)
    personas: PersonaSettings | None = Field(default_factory=PersonaSettings)
    contexts: Literal["gold", "all"] = "gold"   # passages each question is asked with


class ContextLengthSettings(_Strict):
    n_docs: list[int] = Field(default_factory=lambda: [5, 10, 20], min_length=2)
    positions: list[Literal["first", "middle", "last"]] = Field(
        default_factory=lambda: ["first", "middle", "last"], min_length=1)
    # Effective length: the longest context whose pooled accuracy stays within this many
    # points (0-1 scale) of the shortest context's.
    margin: float = Field(default=0.05, ge=0.0, le=1.0)

    # At least 3: with 2 passages "middle" would be "first" again.
    _n_docs = field_validator("n_docs")(lambda value: passage_counts(value, least=3))

    @field_validator("positions")
    @classmethod
    def _distinct(cls, value):
        if len(set(value)) != len(value):
            raise ValueError("must name each gold position once")
        return value


class KVSettings(_Strict):
    n_pairs: int = Field(default=10, ge=2)          # key-value pairs shown (LITM used 75-300)
    positions: list[int] | None = None              # where the asked key sits; None: spread


@dataclass(frozen=True)
class Kind:
    """One experiment kind: its module, its settings block and what a config must give."""

    module: str                 # build / analyse / plot / markdown (experiments.registry)
    block: str                  # the settings block's key in the YAML file
    settings: type[_Strict]
    defaultable: bool = True    # runs on default settings when the block is absent
    needs_data: bool = True     # needs a `data:` block (questions and passages)


# The one table of experiment kinds: the config's `kind` choices, blocks and modules come from it.
KINDS: dict[str, Kind] = {
    "position": Kind("promptkit.experiments.position", "position", PositionSettings),
    "needle": Kind("promptkit.experiments.needle", "needle", NeedleSettings,
                   defaultable=False, needs_data=False),
    "k-sweep": Kind("promptkit.experiments.ksweep", "k_sweep", KSweepSettings),
    "ordering": Kind("promptkit.experiments.ordering", "ordering", OrderingSettings),
    "prompt-kinds": Kind("promptkit.experiments.prompt_kinds", "prompt_kinds",
                         PromptKindsSettings),
    "kv": Kind("promptkit.experiments.kv", "kv", KVSettings),
    "context-length": Kind("promptkit.experiments.context_length", "context_length",
                           ContextLengthSettings),
}


def _default_model() -> str:
    from promptkit.llm.specs import default_spec

    return default_spec()


def _kind_rules(schema: dict) -> None:
    """JSON Schema only: the settings block of the chosen kind, and no other kind's block."""
    rules = []
    for name, kind in KINDS.items():
        others = [k.block for k in KINDS.values() if k.block != kind.block]
        then: dict = {"not": {"anyOf": [{"required": [b]} for b in others]}}
        required = [*([] if kind.defaultable else [kind.block]),
                    *(["data"] if kind.needs_data else [])]
        if required:
            then["required"] = required
        rules.append({"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
                      "then": then})
    schema["allOf"] = rules


class ExperimentConfig(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_kind_rules)

    name: str
    kind: Literal[tuple(KINDS)]  # type: ignore[valid-type]
    description: str = ""
    model: str = Field(default_factory=lambda: _default_model())
    prompt: str = "multidoc-qa@1"       # grounded prompt (question + context) for the cells
    params: dict[str, Any] = Field(default_factory=lambda: {"max_tokens": 16},
                                   json_schema_extra={"propertyNames": {"enum": list(PARAM_KEYS)}})
    metrics: list[MetricConfig] = Field(
        default_factory=lambda: [MetricConfig(name="best_subspan_em")], min_length=1)
    seed: int = 0
    concurrency: int = Field(default=1, ge=1)
    cache_mode: CacheMode = None
    # Run the cells whose prompts share prefixes question by question, so that llama.cpp
    # reuses the evaluated prefix of the call before (in-process llamacpp models only; other
    # backends run cell by cell, keeping `concurrency`; bench/prefix_reuse.py measures the
    # gain and that answers stay the same). False: cell by cell, every prompt from scratch.
    reuse_prefix: bool = True
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    data: DataConfig | None = None
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)

    position: PositionSettings | None = None
    needle: NeedleSettings | None = None
    k_sweep: KSweepSettings | None = None
    ordering: OrderingSettings | None = None
    prompt_kinds: PromptKindsSettings | None = None
    kv: KVSettings | None = None
    context_length: ContextLengthSettings | None = None

    _source: str | None = PrivateAttr(default=None)

    @field_validator("metrics", mode="before", json_schema_input_type=MetricList)
    @classmethod
    def _metric_shorthand(cls, value):
        if isinstance(value, list):
            return [{"name": m} if isinstance(m, str) else m for m in value]
        return value

    @field_validator("params")
    @classmethod
    def _known_params(cls, value):
        unknown = sorted(set(value) - set(PARAM_KEYS))
        if unknown:
            raise ValueError(f"unknown generation setting(s) {unknown}; use {list(PARAM_KEYS)}")
        try:   # the same bounds and types as everywhere else
            checked = GenerationSettings.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"{first['loc'][0]}: "
                             + first["msg"].replace("Input should", "should", 1)) from None
        # Numbers stay as written (0 stays 0, not 0.0: an existing run's hash must not change);
        # text that reads as a number becomes one.
        return {key: value[key] if isinstance(value[key], int | float) else getattr(checked, key)
                for key in value}

    @field_validator("name")
    @classmethod
    def _name_is_a_path_part(cls, value: str) -> str:
        if not value.strip() or any(c in value for c in "/\\") or value.startswith("."):
            raise ValueError("must be a non-empty name without slashes (it names the run folder)")
        return value

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def primary_metric(self) -> str:
        """The metric plots and paired tests use: the first one listed."""
        return self.metrics[0].name

    def settings(self) -> Any:
        return getattr(self, KINDS[self.kind].block)

    def resolve_path(self, raw: str) -> Path:
        """A path from the file: relative to the config's folder if it exists there, else to cwd."""
        return resolve_beside(raw, self._source)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """Hash of what changes answers or scores (not concurrency, limit, description or the
        call order). Settings blocks of kinds added later count only when set, so a folder
        started before they existed keeps its hash and resumes."""
        data = self.to_dict()
        for block in LATER_BLOCKS:
            if data.get(block) is None:
                data.pop(block, None)
        return settings_fingerprint(data, section="retrieval",
                                    ignore=("concurrency", "description", "reuse_prefix"),
                                    limit_in="data")


# Kind blocks added after experiment folders were first written (see `fingerprint`).
LATER_BLOCKS = ("context_length",)

HINT = "See eval/experiments/ for a complete example of each kind."


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment config; errors name the file, line or field."""
    from promptkit.userfiles import read_yaml

    text, data = read_yaml(Path(path), hint=HINT)
    return experiment_from_dict(data, source=str(path), text=text)


def experiment_from_dict(data: dict, *, source: str | None = None,
                         text: str | None = None) -> ExperimentConfig:
    """Validate a config mapping (Python API and tests); same errors as for a file."""
    from promptkit.userfiles import validate

    hint = HINT
    cfg = validate(ExperimentConfig, data, path=source, text=text, hint=hint)
    kind = KINDS[cfg.kind]
    block = kind.block
    for other_kind, other in ((name, k.block) for name, k in KINDS.items()):
        if other != block and getattr(cfg, other) is not None:
            raise ConfigError(f"a '{other}' block belongs to kind '{other_kind}', but this "
                              f"experiment's kind is '{cfg.kind}'", path=source, field=other,
                              hint=f"Remove it, or put the settings under '{block}:'.")
    if cfg.settings() is None:
        if not kind.defaultable:
            raise ConfigError(f"kind '{cfg.kind}' needs a '{block}:' block", path=source,
                              field=block, hint=hint)
        setattr(cfg, block, kind.settings())
    if kind.needs_data and cfg.data is None:
        raise ConfigError(f"kind '{cfg.kind}' needs a 'data:' block (questions and passages)",
                          path=source, field="data", hint=hint)
    cfg._source = source
    return cfg
