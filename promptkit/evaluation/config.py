"""The evaluation config file (YAML): what to ask, with which pipeline, scored how.

Users write these files, so every model forbids unknown keys: a typo is an error that names the
file and the field, never a silently ignored setting.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from promptkit.choices import CacheModeName, Mode
from promptkit.settings import GenerationSettings, RetrievalSettings
from promptkit.userfiles import StrictModel

_Strict = StrictModel


def _off_is_false(value):
    # YAML 1.1 reads an unquoted `off` (and `no`, `false`) as the boolean false: it means off.
    return "off" if value is False else value


# The response cache mode of a config file; `cache_mode: off` works unquoted.
_CACHE_MODES = CacheModeName
CacheMode = Annotated[_CACHE_MODES | None,
                      BeforeValidator(_off_is_false,
                                      json_schema_input_type=_CACHE_MODES | Literal[False] | None)]


class DatasetConfig(_Strict):
    path: str
    loader: Literal["auto", "jsonl", "squad", "litm", "beir"] = "auto"
    limit: int | None = Field(default=None, ge=1)
    split: str = "test"  # BEIR qrels split

    @model_validator(mode="after")
    def _spec_prefix(self) -> DatasetConfig:
        # `path: litm:file.jsonl.gz` is shorthand for `path: file.jsonl.gz` + `loader: litm`.
        prefix, sep, rest = self.path.partition(":")
        if sep and prefix in ("jsonl", "squad", "litm", "beir") and self.loader == "auto":
            self.path, self.loader = rest, prefix
        return self


class PipelineConfig(RetrievalSettings, GenerationSettings):
    # None: the mode's own default prompt (rag-answer@production, closed-book@production), as
    # `promptkit ask` chooses it.
    prompt: str | None = None
    # Unset: the library's default model ($PROMPTKIT_MODEL, else the most capable packaged
    # model installed), resolved when the file is read so the run records the actual spec.
    model: str | None = None
    mode: Mode = "rag"
    where: dict | None = None
    min_score: float | None = Field(default=None, allow_inf_nan=False)
    # collection, k, order, mmr, hybrid, rerank, rerank_candidates: settings.RetrievalSettings;
    # max_tokens, temperature (overrides of the prompt's own params): settings.GenerationSettings

    @model_validator(mode="after")
    def _default_prompt(self) -> PipelineConfig:
        if self.prompt is None:
            from promptkit.pipeline.pipeline import DEFAULT_PROMPTS

            self.prompt = DEFAULT_PROMPTS[self.mode]
        return self

    @model_validator(mode="after")
    def _resolve_model(self) -> PipelineConfig:
        if not self.model:
            from promptkit.llm.specs import default_spec

            self.model = default_spec()
        return self



class MetricConfig(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


# What a `metrics:` list may hold in the file: names, or {name, options} mappings.
MetricList = Annotated[list[str | MetricConfig], Field(min_length=1)]


class EvalConfig(_Strict):
    name: str
    dataset: DatasetConfig
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    metrics: list[MetricConfig] = Field(min_length=1)
    repeats: int = Field(default=1, ge=1)
    seed: int = 0
    concurrency: int = Field(default=1, ge=1)
    # None: the LLM layer's default ($PROMPTKIT_CACHE_MODE, else read-write).
    cache_mode: CacheMode = None
    on_bad_lines: Literal["skip", "stop"] = "skip"

    # Where the file was read from: relative dataset paths are resolved against it.
    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        return self._source

    @field_validator("metrics", mode="before", json_schema_input_type=MetricList)
    @classmethod
    def _metric_shorthand(cls, value):
        # `- exact_match` is shorthand for `- {name: exact_match}`.
        if isinstance(value, list):
            return [{"name": m} if isinstance(m, str) else m for m in value]
        return value

    @field_validator("name")
    @classmethod
    def _name_is_a_path_part(cls, value: str) -> str:
        if not value.strip() or any(c in value for c in "/\\") or value.startswith("."):
            raise ValueError("must be a non-empty name without slashes "
                             "(it becomes part of the run id)")
        return value

    def dataset_path(self) -> Path:
        """The dataset path: relative to the config file's folder first, else to the current dir."""
        return resolve_beside(self.dataset.path, self.source)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """Hash of the settings that change answers or scores (not concurrency or labels)."""
        return settings_fingerprint(self.to_dict(), section="pipeline",
                                    ignore=("concurrency", "on_bad_lines"), limit_in="dataset")


def settings_fingerprint(data: dict, *, section: str, ignore: tuple[str, ...],
                         limit_in: str) -> str:
    """The hash that names a run's settings (eval runs and experiments), so a resumed run
    continues only what it started: credentials, the `ignore`d keys and `limit_in`'s limit
    (a larger limit extends a run rather than forking it) do not count, nor do rerank settings
    left unset in `section` (runs made before rerank existed keep their hash)."""
    from promptkit.llm.redact import public_data

    data = public_data(data)   # a hash of a key is not for disk either
    for key in ignore:
        data.pop(key, None)
    if data.get(limit_in):
        data[limit_in].pop("limit", None)
    for key in ("rerank", "rerank_candidates"):
        if data[section].get(key) is None:
            data[section].pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def resolve_beside(raw: str, source: str | None) -> Path:
    """A path named in a config file: relative to the file's folder if it exists there, else
    to the current directory."""
    path = Path(raw).expanduser()
    if path.is_absolute() or source is None:
        return path
    beside = Path(source).parent / path
    return beside if beside.exists() or not path.exists() else path


HINT = "See eval/configs/ for a complete example."


def load_config(path: str | Path) -> EvalConfig:
    """Read and validate an eval config; errors name the file, line and field."""
    from promptkit.userfiles import read_yaml

    text, data = read_yaml(Path(path), hint=HINT)
    return config_from_dict(data, source=str(path), text=text)


def config_from_dict(data: dict, *, source: str | None = None,
                     text: str | None = None) -> EvalConfig:
    from promptkit.userfiles import validate

    cfg = validate(EvalConfig, data, path=source, text=text, hint=HINT)
    cfg._source = source
    return cfg
