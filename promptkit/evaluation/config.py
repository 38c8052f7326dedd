"""The evaluation config file (YAML): what to ask, with which pipeline, scored how.

Users write these files, so every model forbids unknown keys: a typo is an error that names the
file and the field, never a silently ignored setting.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class PipelineConfig(_Strict):
    prompt: str = "rag-answer@production"
    model: str = "llamacpp:smollm2-135m"
    collection: str = "demo"
    k: int = Field(default=4, ge=1)
    order: Literal["ranked", "reversed", "edges"] = "ranked"
    mode: Literal["rag", "closed-book", "oracle"] = "rag"
    mmr: bool = False
    hybrid: bool = False
    where: dict | None = None
    min_score: float | None = None
    # Generation overrides; unset means the prompt version's own params.
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    # Rerank stage: a cross-encoder folder or hf:<org>/<name> ("fake" in tests) reorders
    # `rerank_candidates` retrieved passages (default max(4k, 20)) and keeps the best k.
    rerank: str | None = None
    rerank_candidates: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _candidates_cover_k(self) -> PipelineConfig:
        if self.rerank_candidates is not None and self.rerank_candidates < self.k:
            raise ValueError(f"rerank_candidates ({self.rerank_candidates}) must be at least "
                             f"k ({self.k})")
        return self


class MetricConfig(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class EvalConfig(_Strict):
    name: str
    dataset: DatasetConfig
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    metrics: list[MetricConfig] = Field(min_length=1)
    repeats: int = Field(default=1, ge=1)
    seed: int = 0
    concurrency: int = Field(default=1, ge=1)
    # None: the LLM layer's default ($PROMPTKIT_CACHE_MODE, else read-write).
    cache_mode: Literal["off", "read-write", "record", "replay"] | None = None
    on_bad_lines: Literal["skip", "stop"] = "skip"

    # Where the file was read from: relative dataset paths are resolved against it.
    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        return self._source

    @field_validator("metrics", mode="before")
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
        path = Path(self.dataset.path).expanduser()
        if path.is_absolute() or self.source is None:
            return path
        beside = Path(self.source).parent / path
        return beside if beside.exists() or not path.exists() else path

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """Hash of the settings that change answers or scores (not concurrency or labels)."""
        data = self.to_dict()
        for key in ("concurrency", "on_bad_lines"):
            data.pop(key, None)
        data["dataset"].pop("limit", None)  # a larger limit extends a run rather than forking it
        for key in ("rerank", "rerank_candidates"):   # unset: same hash as before they existed
            if data["pipeline"].get(key) is None:
                data["pipeline"].pop(key, None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


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
