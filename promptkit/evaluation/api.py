"""The Python API of the harness: `evaluate`, `compare`, `report` — what the CLI calls, too."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from promptkit.errors import UserError
from promptkit.evaluation.comparison import RunComparison, compare_runs, load_run
from promptkit.evaluation.config import EvalConfig, PipelineConfig, config_from_dict, load_config
from promptkit.evaluation.datasets import Case, Dataset, from_records
from promptkit.evaluation.runner import Asker, ProgressFn, RunResult, run_eval

# The settings evaluate() takes as keywords are the config file's pipeline block, spelled once.
_PIPELINE_KEYS = tuple(PipelineConfig.model_fields)


def evaluate(config: EvalConfig | str | Path | None = None, *,
             dataset: str | Path | Dataset | Iterable[Case | dict] | None = None,
             metrics: Iterable[str | dict] = ("token_f1",), pipeline: Asker | None = None,
             name: str = "api", run_dir: str | Path | None = None, repeats: int = 1,
             seed: int = 0, concurrency: int | None = None, cache_mode: str | None = None,
             limit: int | None = None, on_bad_lines: str = "skip",
             progress: ProgressFn | None = None, **pipeline_settings: Any) -> RunResult:
    """Run an evaluation and return its records and summary (also saved as a run folder).

    Either pass a config (file path or `EvalConfig`), or describe the run here:
    `evaluate(dataset="eval/datasets/demo-qa.jsonl", metrics=["token_f1"], prompt="rag-answer@2")`.
    `pipeline=` takes any object with `.ask(question, contexts=...)` instead of building one.
    """
    if config is not None:
        cfg = config if isinstance(config, EvalConfig) else load_config(config)
        return run_eval(cfg, run_dir, concurrency, limit=limit, progress=progress,
                        pipeline=pipeline)
    if dataset is None:
        raise TypeError("evaluate() needs a config or a dataset")
    unknown = sorted(set(pipeline_settings) - set(_PIPELINE_KEYS))
    if unknown:
        raise TypeError(f"evaluate() got unknown pipeline setting(s): {', '.join(unknown)}")
    ds = None
    if isinstance(dataset, Dataset):
        ds, path = dataset, dataset.path
    elif isinstance(dataset, str | Path):
        path = str(dataset)
    else:
        ds = from_records(list(dataset))
        path = ds.path
    cfg = config_from_dict({
        "name": name, "dataset": {"path": path},
        "pipeline": pipeline_settings,
        "metrics": [m if isinstance(m, str) else dict(m) for m in metrics],
        "repeats": repeats, "seed": seed, "cache_mode": cache_mode, "on_bad_lines": on_bad_lines,
    })
    return run_eval(cfg, run_dir, concurrency, limit=limit, progress=progress, pipeline=pipeline,
                    dataset=ds)


def compare(run_a: str | Path, run_b: str | Path, *, alpha: float = 0.05,
            metrics: list[str] | None = None, seed: int = 0,
            test: str | None = None) -> RunComparison:
    """Run B against run A, paired by case id: per metric a delta, CI, p-value and verdict."""
    return compare_runs(run_a, run_b, alpha=alpha, metrics=metrics, seed=seed, test=test)


def report(run: str | Path, *, compare_to: str | Path | None = None, html: str | Path | None = None,
           alpha: float = 0.05) -> str:
    """Markdown report of a run (and of its comparison with `compare_to`); writes HTML if asked."""
    from promptkit.evaluation.reporting import compare_markdown, run_markdown

    if html is not None:
        _check_writable(Path(html))   # before the work, not after it
    loaded = load_run(run)
    cmp = compare_runs(loaded, load_run(compare_to), alpha=alpha) if compare_to else None
    text = run_markdown(loaded) + ("\n" + compare_markdown(cmp) if cmp else "")
    if html is not None:
        from promptkit.evaluation.report_html import render_html

        try:
            Path(html).write_text(render_html(loaded, cmp), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write the HTML report to {html}: "
                            f"{exc.strerror or exc}") from None
    return text


def _check_writable(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"--html {path} is a folder; it takes the name of the file to write",
                        hint=f"For example: --html {path / 'report.html'}")
    if not path.parent.is_dir():
        raise UserError(f"--html {path}: the folder {path.parent} does not exist",
                        hint="Create it first, or write the report somewhere that exists.")
