"""What every experiment kind hands the runner (cells) and gets back for analysis (cell runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from promptkit.evaluation.datasets import Dataset
from promptkit.experiments.config import ExperimentConfig


@dataclass
class Cell:
    """One point of the design: a dataset asked one way. Each cell is one harness run."""

    label: str                  # folder name, unique in the experiment: "gold-at-2", "k-5"
    title: str                  # what the report calls it
    dataset: Dataset
    prompt: Any                 # prompt ref or a (bound) PromptSpec
    prompt_ref: str             # recorded in the cell's config: says what `prompt` is
    mode: str = "oracle"        # oracle: passages given with each case; closed-book: none
    order: str = "ranked"
    k: int = 4
    group: str = ""             # e.g. "position", "baseline", "few-shot", "persona"
    meta: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """What the manifest keeps, so a report can be redrawn without rebuilding the cell."""
        return {"label": self.label, "title": self.title, "group": self.group,
                "prompt": self.prompt_ref, "mode": self.mode, "order": self.order, "k": self.k,
                "cases": len(self.dataset.cases), "meta": self.meta,
                # Records of other cases (an earlier, larger limit) stay on disk but not in
                # the analysis.
                "case_ids": [c.id for c in self.dataset.cases]}


@dataclass
class Plan:
    cells: list[Cell]
    info: dict = field(default_factory=dict)   # kind-specific facts for the analysis (JSON)
    # Labels of cells whose prompts for one question share prefixes, each best run right after
    # the one before it (see runner.schedule); empty: no sharing worth ordering for.
    prefix_order: list[str] = field(default_factory=list)


class Context:
    """What a kind needs to build its cells: the config, the target model, paths and messages."""

    def __init__(self, cfg: ExperimentConfig, run_dir: Path, *, model=None, notify=None,
                 limit: int | None = None):
        self.cfg, self.run_dir = cfg, run_dir
        self._model = model
        self.notify = notify or (lambda _msg: None)
        self.limit = limit

    @cached_property
    def model(self):
        """The target model, built once and shared by every cell (one load, one cache)."""
        if self._model is not None:
            return self._model
        from promptkit.llm import get_model
        from promptkit.llm.specs import parse_spec

        reuse = self.cfg.reuse_prefix and parse_spec(self.cfg.model)[0] == "llamacpp"
        return get_model(self.cfg.model, cache_mode=self.cfg.cache_mode,
                         **({"reuse_prefix": True} if reuse else {}))

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def pipeline(self, prompt, *, mode: str = "oracle", order: str = "ranked", k: int = 4):
        from promptkit.pipeline import Pipeline
        from promptkit.settings import GenerationSettings

        # The params were validated with the config; built without a second validation so that
        # numbers stay as written (a temperature of 0 keys the response cache as it always has).
        params = GenerationSettings.model_construct(**self.cfg.params)
        return Pipeline.from_settings(params, prompt=prompt, model=self.model, k=k, order=order,
                                      mode=mode, seed=self.cfg.seed)

    def basis(self, source_hash: str) -> str:
        """What a cell dataset's hash stands for: the source data and the experiment's settings."""
        return f"{source_hash}:{self.cfg.fingerprint()}"


@dataclass
class CellRun:
    """A cell as the analysis sees it: its description and its harness run (None: not run yet)."""

    cell: dict
    run: Any = None             # promptkit.evaluation.comparison.LoadedRun

    @property
    def label(self) -> str:
        return self.cell["label"]

    def summary(self, metric: str) -> dict | None:
        """The harness summary of `metric`; for a cell still running, one made from its records."""
        if self.run is None:
            return None
        if self.run.summary:
            return self.run.summary.get("metrics", {}).get(metric)
        if not self.run.records:
            return None
        from promptkit.evaluation.aggregate import metric_summary

        return metric_summary(self.run.records, metric,
                              binary=self.run.metric_info(metric).get("binary"))

    def values(self, metric: str) -> dict[str, float]:
        """Case id -> the metric's value (repeats averaged), scored cases only."""
        from promptkit.evaluation.aggregate import per_case_values

        return per_case_values(self.run.records, metric) if self.run is not None else {}

    def complete(self) -> bool:
        return bool(self.run and self.run.summary and self.run.summary.get("complete"))
