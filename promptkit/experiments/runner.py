"""Run an experiment: build its cells, run each through the evaluation harness, analyse, report.

The experiment folder holds `config.yaml`, `experiment.json` (manifest: cells, timings,
invocations) and `cells/<label>/` — each an ordinary harness run folder, so every cell is
resumable, cached and inspectable with `promptkit eval report`. Re-running with the same
`run_dir` skips finished cases in every cell.
"""

from __future__ import annotations

import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from promptkit.errors import BackendError, ConfigError, PromptkitError, UserError
from promptkit.evaluation import rundir as rd_mod
from promptkit.experiments.cells import Cell, CellRun, Context, Plan
from promptkit.experiments.config import ExperimentConfig, experiment_from_dict, load_experiment
from promptkit.experiments.registry import get_kind
from promptkit.safeparse import load_yaml

MANIFEST = "experiment.json"
SUMMARY = "summary.json"
CONFIG = "config.yaml"
CELLS = "cells"

# (cell number from 1, cells in total, cell label, cases done in the cell, cases in the cell)
ProgressFn = Callable[[int, int, str, int, int], None]


@dataclass
class ExperimentResult:
    run_dir: Path
    run_id: str
    summary: dict
    report_path: Path | None


def run_experiment(config: ExperimentConfig | dict | str | Path, run_dir: str | Path | None = None,
                   *, concurrency: int | None = None, limit: int | None = None,
                   progress: ProgressFn | None = None, notify: Callable[[str], None] | None = None,
                   model=None, command: str | None = None, report: bool = True) -> ExperimentResult:
    """Run (or resume, given the `run_dir` of an unfinished run) an experiment config.

    `model` replaces the config's model spec with a ChatModel object (tests use fakes);
    `limit` caps the cases per cell; `command` is recorded in the report.
    """
    cfg = _as_config(config)
    cfg = _with_overrides(cfg, concurrency=concurrency, limit=limit)
    notify = notify or (lambda _msg: None)
    folder = Path(run_dir) if run_dir is not None else \
        rd_mod.runs_root() / rd_mod.new_run_id(cfg.name, cfg.fingerprint())
    # The same lock as a harness run folder: a second `experiment run --run-dir` stops at once.
    with rd_mod.RunDir(folder).lock():
        return _run_locked(cfg, folder, limit=limit, progress=progress, notify=notify,
                           model=model, command=command, report=report)


def _run_locked(cfg: ExperimentConfig, folder: Path, *, limit, progress, notify, model,
                command, report) -> ExperimentResult:
    kind = get_kind(cfg.kind)
    created = _open_folder(cfg, folder, command)
    ctx = Context(cfg, folder, model=model, notify=notify,
                  limit=limit if limit is not None else (cfg.data.limit if cfg.data else None))
    t_build = time.perf_counter()
    try:
        plan = kind.build(ctx)
        if not plan.cells:
            raise ConfigError("the experiment has no cells to run", path=cfg.source,
                              hint="Check the data path and the settings block.")
        _check_labels(plan.cells)
    except PromptkitError:
        if created:   # nothing was run: leave no empty run folder behind
            shutil.rmtree(folder, ignore_errors=True)
        raise
    build_s = time.perf_counter() - t_build
    manifest = _read(folder)
    manifest["cells"] = [c.describe() for c in plan.cells]
    manifest["info"] = plan.info
    manifest["build_s"] = round(manifest.get("build_s", 0.0) + build_s, 3)
    _write(folder, manifest)

    _run_cells(ctx, plan, manifest, progress, notify)
    manifest = rd_mod.RunDir(folder).finish("complete", manifest_name=MANIFEST)
    summary = analyse(folder)
    report_path = None
    if report:
        from promptkit.experiments.report import write_report

        report_path = write_report(folder, summary)
    return ExperimentResult(folder, folder.name, summary, report_path)


def _run_cells(ctx: Context, plan: Plan, manifest: dict, progress, notify) -> None:
    """The plan's steps in turn; wall times are added up per cell across invocations."""
    folder, cfg = ctx.run_dir, ctx.cfg
    timings = manifest.setdefault("cell_wall_s", {})
    numbers = {cell.label: n for n, cell in enumerate(plan.cells, start=1)}
    askers: dict[str, object] = {}
    # Question by question only where it pays: a model that keeps the previous call's prefix
    # (in-process llama.cpp). Elsewhere cell by cell, which keeps `concurrency` useful.
    interleave = cfg.reuse_prefix and bool(getattr(ctx.model, "reuse_prefix", False))
    for cell, upto in schedule(plan, interleave=interleave):
        t0 = time.perf_counter()
        try:
            _run_cell(ctx, cell, numbers[cell.label], len(plan.cells), progress, notify,
                      upto=upto, askers=askers)
        except PromptkitError as exc:
            manifest["status"] = "stopped"
            raise _stopped(exc, cell, folder, cfg) from exc
        except KeyboardInterrupt:
            manifest["status"] = "interrupted"
            notify(f"interrupted in cell '{cell.label}'; finished cases are saved. "
                   f"{_resume_hint(folder, cfg)}")
            raise
        finally:
            timings[cell.label] = round(timings.get(cell.label, 0.0)
                                        + time.perf_counter() - t0, 3)
            _write(folder, manifest)   # timings survive an interruption


def schedule(plan: Plan, *, interleave: bool) -> list[tuple[Cell, int | None]]:
    """(cell, answer its case number `upto` (from 1) now) steps; None: the whole cell.

    Cell by cell, unless `interleave` and the kind named cells whose prompts for one question
    share prefixes (`Plan.prefix_order`): then question by question, those cells first in that
    order, so that each prompt follows the one it shares the longest prefix with and llama.cpp
    evaluates only the part after it, then the question's other cells. Every cell then holds
    the same questions at any moment, so an unfinished run still compares like with like.
    """
    by_label = {c.label: c for c in plan.cells}
    shared = [by_label[label] for label in plan.prefix_order if label in by_label] \
        if interleave else []
    if not shared:
        return [(c, None) for c in plan.cells]
    ordered = shared + [c for c in plan.cells if c not in shared]
    steps: list[tuple[Cell, int | None]] = []
    for upto in range(1, max(len(c.dataset.cases) for c in ordered) + 1):
        steps += [(c, upto) for c in ordered if upto <= len(c.dataset.cases)]
    return steps


def _run_cell(ctx: Context, cell: Cell, number: int, total: int, progress, notify, *,
              upto: int | None = None, askers: dict | None = None) -> None:
    from promptkit.evaluation.runner import run_eval

    cfg = ctx.cfg
    cases = len(cell.dataset.cases)
    on_progress = None
    if progress is not None:
        def on_progress(done: int, _todo: int) -> None:
            progress(number, total, cell.label, done, cases)
    eval_cfg = cell_eval_config(cfg, cell)
    askers = {} if askers is None else askers
    first = cell.label not in askers    # this cell's first step in this invocation
    if first:
        askers[cell.label] = ctx.pipeline(cell.prompt, mode=cell.mode, order=cell.order,
                                          k=cell.k)

    def cell_notify(message: str) -> None:
        # The harness's own "stopped ... run `promptkit eval run`" advice names the cell's
        # folder; the experiment says how to resume the whole run instead. Interleaved steps
        # report the folder and the resume once, not at every question.
        if message.startswith("stopped:"):
            return
        if not first and message.startswith(("run folder:", "resuming ")):
            return
        notify(f"[{cell.label}] {message}")

    only = None if upto is None else {cell.dataset.cases[upto - 1].id}
    run_eval(eval_cfg, run_dir=ctx.run_dir / CELLS / cell.label, dataset=cell.dataset,
             pipeline=askers[cell.label], progress=on_progress, notify=cell_notify, only=only)


def _resume_hint(folder: Path, cfg: ExperimentConfig) -> str:
    return f"Resume with: promptkit experiment run {cfg.source or 'CONFIG.yaml'} --run-dir {folder}"


def _stopped(exc: PromptkitError, cell: Cell, folder: Path, cfg: ExperimentConfig):
    """The cell's error, pointing at the experiment folder (not the cell's) for the resume."""
    hint = f"Finished cases are saved. {_resume_hint(folder, cfg)}"
    message = f"experiment stopped in cell '{cell.label}': {exc.message}"
    if isinstance(exc, BackendError):
        return BackendError(message, backend=exc.backend, hint=hint)
    return UserError(message, hint=hint)


def cell_eval_config(cfg: ExperimentConfig, cell: Cell):
    """The harness config a cell runs as: what its run folder records and resumes against."""
    from promptkit.evaluation.config import config_from_dict

    return config_from_dict({
        "name": f"{cfg.name}.{cell.label}",
        "dataset": {"path": cell.dataset.path},
        "pipeline": {"prompt": cell.prompt_ref, "model": cfg.model, "k": max(cell.k, 1),
                     "order": cell.order, "mode": cell.mode, **cfg.params},
        "metrics": [m.model_dump() for m in cfg.metrics],
        "seed": cfg.seed,
        "concurrency": cfg.concurrency,
        "cache_mode": cfg.cache_mode,
    }, source=cfg.source)


# ---------------------------------------------------------------- analysis

def load_cell_runs(folder: Path) -> list[CellRun]:
    """Every cell of an experiment folder with its harness run (None where it never started)."""
    from promptkit.evaluation.comparison import load_run
    from promptkit.evaluation.rundir import RunDir

    out = []
    for cell in _read(folder).get("cells", []):
        run_path = RunDir(folder / CELLS / cell["label"])
        run = load_run(run_path) if run_path.exists() else None
        if run is not None and cell.get("case_ids") is not None:
            wanted = set(cell["case_ids"])
            run.records = [r for r in run.records if r["id"] in wanted]
        out.append(CellRun(cell, run))
    return out


def analyse(folder: str | Path) -> dict:
    """Summary of an experiment folder (finished or not); written to summary.json."""
    folder = Path(folder)
    manifest = _read(folder)
    cfg = read_config(folder)
    runs = load_cell_runs(folder)
    kind = get_kind(cfg.kind)
    metrics = [m.name for m in cfg.metrics]
    summary = {
        "run_id": folder.name, "name": cfg.name, "kind": cfg.kind, "model": cfg.model,
        "prompt": _prompt_note(cfg), "params": cfg.params, "metrics": metrics,
        "primary_metric": cfg.primary_metric, "alpha": cfg.alpha,
        "status": manifest.get("status"), "complete": all(r.complete() for r in runs),
        "cells": [_cell_summary(r, metrics, manifest) for r in runs],
        "command": manifest.get("command"), "machine": manifest.get("machine"),
        "cache_modes": sorted({i.get("cache_mode") for i in manifest.get("invocations", [])
                               if i.get("cache_mode")}),
        "info": manifest.get("info", {}),
    }
    summary["timing"] = _timing(manifest, summary["cells"])
    summary["analysis"] = kind.analyse(cfg, runs, manifest.get("info", {}))
    rd_mod.RunDir(folder).write_json(SUMMARY, summary)
    return summary


def _prompt_note(cfg: ExperimentConfig) -> str:
    """The prompt(s) the cells use, as the report header names them."""
    if cfg.kind == "prompt-kinds":
        return f"{cfg.prompt_kinds.control} (control) and its variants, one per cell"
    if cfg.kind == "position" and cfg.position.closed_book:
        return f"{cfg.prompt}; closed-book baseline {cfg.position.closed_book_prompt}"
    return cfg.prompt


def _cell_summary(run: CellRun, metrics: list[str], manifest: dict) -> dict:
    from promptkit.pipeline import trace

    out = {k: v for k, v in run.cell.items() if k != "case_ids"}
    out["run_complete"] = run.complete()
    out["metrics"] = {m: run.summary(m) for m in metrics}
    out["wall_s"] = manifest.get("cell_wall_s", {}).get(run.label)
    out["answered"] = 0
    if run.run is not None:
        wanted = run.run.records
        out["answered"] = len({r["id"] for r in wanted})
        out["run_id"] = run.run.id
        out["context_tokens"] = trace.mean_prompt_tokens(wanted)
        out["cases_s"] = round(sum(float(r.get("elapsed_s") or 0) for r in wanted), 3)
        out["cache_hits"] = sum(map(trace.cache_hit, wanted))
    return out


def _timing(manifest: dict, cells: list[dict]) -> dict:
    walls = manifest.get("cell_wall_s", {})
    return {"build_s": manifest.get("build_s"), "cells_s": round(sum(walls.values()), 3),
            "total_s": round((manifest.get("build_s") or 0) + sum(walls.values()), 3),
            "invocations": len(manifest.get("invocations", [])),
            # Time spent answering the cases the summary counts, and how many came from cache.
            "cases_s": round(sum(c.get("cases_s") or 0 for c in cells), 3),
            "records": sum(c.get("answered", c["cases"]) for c in cells),
            "cache_hits": sum(c.get("cache_hits") or 0 for c in cells)}


# ---------------------------------------------------------------- the folder

def resolve_experiment(ref: str | Path) -> Path:
    """An experiment folder by path, or by id under the runs root (a unique prefix is enough)."""
    from promptkit.errors import NotFoundError

    path = Path(ref).expanduser()
    if (path / MANIFEST).is_file():
        return path
    root = rd_mod.runs_root()
    known = sorted(d.name for d in root.iterdir() if (d / MANIFEST).is_file()) \
        if root.is_dir() else []
    matches = [k for k in known if k == str(ref)] or [k for k in known if k.startswith(str(ref))]
    if len(matches) == 1:
        return root / matches[0]
    raise NotFoundError("experiment run", str(ref), known,
                        hint=f"Pass an experiment folder or a run id under {root}.")


def read_config(folder: Path) -> ExperimentConfig:

    path = folder / CONFIG
    if not path.is_file():
        raise ConfigError(f"{CONFIG} is missing; is this an experiment folder?", path=str(folder))
    data = load_yaml(path.read_text(encoding="utf-8"))
    return experiment_from_dict(data, source=_read(folder).get("config_source") or str(path))


def _as_config(config) -> ExperimentConfig:
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, dict):
        return experiment_from_dict(config)
    return load_experiment(config)


def _with_overrides(cfg: ExperimentConfig, *, concurrency, limit) -> ExperimentConfig:
    data = cfg.to_dict()
    if concurrency is not None:
        data["concurrency"] = concurrency
    if limit is not None and data.get("data"):
        data["data"]["limit"] = limit
    return experiment_from_dict(data, source=cfg.source)


def _open_folder(cfg: ExperimentConfig, folder: Path, command: str | None) -> bool:
    """Check the folder against the config when it holds a run, else start one; True if new."""
    from promptkit.llm.cache import resolve_mode

    invocation = {"started": rd_mod.now_iso(), "command": command,
                  "cache_mode": resolve_mode(cfg.cache_mode)}
    return rd_mod.RunDir(folder).start_or_resume(
        fingerprint=cfg.fingerprint(), config=cfg.to_dict(), invocation=invocation,
        manifest_name=MANIFEST,
        manifest=lambda public: {
            "name": cfg.name, "kind": cfg.kind, "model": public["model"],
            "config_source": cfg.source, "command": command,
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "cpus": _cpus()},
            "cells": [], "cell_wall_s": {}})


def _cpus() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _check_labels(cells: list[Cell]) -> None:
    labels = [c.label for c in cells]
    dupes = sorted({label for label in labels if labels.count(label) > 1})
    if dupes:  # a kind's bug, but two cells writing one folder would corrupt both
        raise ConfigError(f"two cells share the label(s) {', '.join(dupes)}",
                          hint="Give the roles / settings distinct values.")


def _read(folder: Path) -> dict:
    return rd_mod.RunDir(folder).read_json(MANIFEST)


def _write(folder: Path, manifest: dict) -> None:
    rd_mod.RunDir(folder).write_json(MANIFEST, manifest)


def reanalyse(ref: str | Path) -> ExperimentResult:
    """`promptkit experiment report RUN`: summary and report again from the cell runs on disk."""
    from promptkit.experiments.report import write_report

    folder = resolve_experiment(ref)
    summary = analyse(folder)
    return ExperimentResult(folder, folder.name, summary, write_report(folder, summary))
