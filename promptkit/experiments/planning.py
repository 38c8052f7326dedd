"""`experiment run --plan`: what a run will cost and what it can detect, before running it.

The plan builds the experiment's cells as the run would (same selection, same passages), counts
the model calls still to make (cases minus those an existing run folder already holds), times a
few real calls of the target model (the calibration, response cache off, nothing saved) and
extrapolates the wall time from each cell's context size, and sizes each paired contrast the
analysis will make: the smallest difference it detects with 80% power at the family's level.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from promptkit.experiments.cells import Cell, Context
from promptkit.experiments.retrieval import RANKINGS

DISCORDANT = 0.25   # assumed share of questions two cells score differently (0/1 metrics)
SPREAD = 0.30       # assumed sd of per-question differences (other metrics)


@dataclass
class CellPlan:
    label: str
    title: str
    cases: int
    done: int
    context_tokens: float      # mean prompt tokens of a case, passages included (first cases)
    est_call_s: float | None = None
    calibrated_s: float | None = None

    @property
    def calls(self) -> int:
        return self.cases - self.done


@dataclass
class ExperimentPlan:
    name: str
    kind: str
    model: str
    metric: str
    binary: bool
    alpha: float
    reuse_prefix: bool
    cells: list[CellPlan]
    contrasts: list[dict]
    assumption: str
    calibration: list[dict] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(c.calls for c in self.cells)

    @property
    def est_wall_s(self) -> float | None:
        if any(c.est_call_s is None for c in self.cells if c.calls):
            return None
        return sum(c.calls * (c.est_call_s or 0.0) for c in self.cells)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(calls=self.calls, est_wall_s=self.est_wall_s)
        return out

    def text(self) -> str:
        """The plan as the CLI prints it."""
        width = max([4, *(len(c.label) for c in self.cells)]) + 2
        lines = [f"plan for experiment '{self.name}' ({self.kind}) on {self.model}",
                 f"{'cell':<{width}} {'cases':>6} {'done':>6} {'calls':>6} {'prompt tok':>10} "
                 f"{'s/call':>7}"]
        for c in self.cells:
            per = "–" if c.est_call_s is None else f"{c.est_call_s:.1f}"
            mark = "*" if c.calibrated_s is not None else " "
            lines.append(f"{c.label:<{width}} {c.cases:>6} {c.done:>6} {c.calls:>6} "
                         f"{c.context_tokens:>10.0f} {per:>6}{mark}")
        wall = self.est_wall_s
        lines.append(f"model calls to make: {self.calls} (fewer if the response cache holds "
                     "some)")
        if self.calibration:
            lines.append(f"calibration: {len(self.calibration)} call(s) timed (* above): "
                         + ", ".join(f"{c['label']} {c['seconds']:.1f} s" for c in
                                     self.calibration))
        if wall is not None:
            reuse = (" without prefix reuse; reuse_prefix shortens the cells that share "
                     "prefixes") if self.reuse_prefix else ""
            lines.append(f"estimated wall time: {_duration(wall)}{reuse}")
        else:
            lines.append("estimated wall time: not calibrated (--calibrate 0)")
        if self.contrasts:
            m = len(self.contrasts)
            lines.append(f"paired contrasts ({self.metric}, {m} in the family, Holm; smallest "
                         f"difference detectable with 80% power at alpha {self.alpha:g}/{m}):")
            cw = max(len(c["cell"]) for c in self.contrasts)
            bw = max(len(c["base"]) for c in self.contrasts)
            for c in self.contrasts:
                d = "none at this size" if c["detectable"] is None else f"±{c['detectable']:.3f}"
                lines.append(f"  {c['cell']:<{cw}} vs {c['base']:<{bw}}  n={c['n']:<5} {d}")
            lines.append(f"  assuming {self.assumption}")
        else:
            lines.append("paired contrasts: none in this design")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_experiment(config, run_dir: str | Path | None = None, *, limit: int | None = None,
                    calibrate: int = 3, discordant: float = DISCORDANT, spread: float = SPREAD,
                    model=None, notify=None) -> ExperimentPlan:
    """Build the cells, count the calls, calibrate on `calibrate` real calls, size contrasts."""
    from promptkit.evaluation.scoring import build_metrics
    from promptkit.evaluation.stats import detectable_effect
    from promptkit.experiments.analysis import family_alpha
    from promptkit.experiments.registry import get_kind
    from promptkit.experiments.runner import _as_config, _with_overrides
    from promptkit.llm.cache import resolve_mode

    cfg = _with_overrides(_as_config(config), concurrency=None, limit=limit)
    kind = get_kind(cfg.kind)
    existing = _existing_run(cfg, run_dir)
    mode = getattr(getattr(model, "cache", None), "mode", None) if model is not None \
        else resolve_mode(cfg.cache_mode)
    if calibrate > 0 and mode == "replay":
        calibrate = 0   # replay never calls a model, and a plan does not either then
        if notify:
            notify("plan: replay mode calls no model, so the wall time is not calibrated")
    with tempfile.TemporaryDirectory(prefix="promptkit-plan-") as scratch:
        # Built as the run would build it, in a scratch folder: planning writes nothing into a
        # run folder. Retrieval saved by the run being planned is read, not recomputed.
        if existing is not None and (existing / RANKINGS).is_file():
            shutil.copy(existing / RANKINGS, Path(scratch) / RANKINGS)
        ctx = Context(cfg, Path(scratch), model=model, notify=notify,
                      limit=limit if limit is not None else (cfg.data.limit if cfg.data else None))
        plan = kind.build(ctx)
        cells = [CellPlan(c.label, c.title, len(c.dataset.cases), _done(existing, c),
                          _context_tokens(ctx, c)) for c in plan.cells]
        timed = _calibrate(ctx, plan.cells, cells, calibrate) if calibrate > 0 else []
    _extrapolate(cells, timed)
    metric = cfg.primary_metric
    binary = bool(getattr(build_metrics(cfg.metrics[:1], source=cfg.source)[0], "binary", False))
    pairs = kind.contrasts(cfg, [c.describe() for c in plan.cells])
    sizes = {c.label: c.cases for c in cells}
    level = family_alpha(cfg.alpha, len(pairs))
    spread_of = {"discordant": discordant} if binary else {"sd": spread}
    contrasts = [{"base": base, "cell": label, "n": min(sizes[base], sizes[label]),
                  "detectable": detectable_effect(min(sizes[base], sizes[label]), alpha=level,
                                                  **spread_of)}
                 for base, label in pairs]
    assumption = (f"{discordant:.0%} of questions scored differently by the two cells "
                  "(set with --discordant)" if binary else
                  f"a spread (sd) of {spread:g} in the per-question differences (set with --sd)")
    return ExperimentPlan(cfg.name, cfg.kind, cfg.model, metric, binary, cfg.alpha,
                          cfg.reuse_prefix, cells, contrasts, assumption, timed)


def _existing_run(cfg, run_dir) -> Path | None:
    """The run folder being planned, if it holds a run; one of other settings is refused, as
    the run itself would refuse it."""
    from promptkit.evaluation.rundir import RunDir
    from promptkit.experiments.runner import MANIFEST

    if run_dir is None:
        return None
    held = RunDir(run_dir).held_run(cfg.fingerprint(), manifest_name=MANIFEST,
                                    hint="Plan with the config that started it, or without "
                                         "--run-dir.")
    return None if held is None else Path(run_dir)


def _done(folder: Path | None, cell: Cell) -> int:
    """Cases of the cell a run folder already holds (they are not asked again)."""
    if folder is None:
        return 0
    from promptkit.evaluation.rundir import RunDir
    from promptkit.experiments.runner import CELLS

    run = RunDir(folder / CELLS / cell.label)
    if not run.exists():
        return 0
    wanted = {c.id for c in cell.dataset.cases}
    return len({case_id for case_id, _repeat in run.finished() if case_id in wanted})


def _context_tokens(ctx: Context, cell: Cell, sample: int = 5) -> float:
    """Mean prompt tokens of the cell's first cases: the prompt rendered with its passages
    packed exactly as the run packs them (what `Pipeline.ask` would send), never generated."""
    from promptkit.pipeline.pack import ContextChunk, pack

    pipe = ctx.pipeline(cell.prompt, mode=cell.mode, order=cell.order, k=cell.k)
    sizes = []
    for case in cell.dataset.cases[:sample]:
        packing = None
        if cell.mode != "closed-book" and case.contexts:
            chunks = [ContextChunk.from_any(c, i) for i, c in enumerate(case.contexts, start=1)]
            budget, _overhead = pipe.context_budget(case.question)
            packing = pack(chunks, budget_tokens=budget, count_tokens=ctx.count_tokens,
                           order=cell.order)
        sizes.append(ctx.model.count_message_tokens(pipe.render(case.question, packing)))
    return statistics.fmean(sizes) if sizes else 0.0


def _calibrate(ctx: Context, built: list[Cell], cells: list[CellPlan], n: int) -> list[dict]:
    """Time one real call in up to `n` cells spread over the context sizes (cache off)."""
    from promptkit.evaluation.runner import answer_case
    from promptkit.experiments.runner import cell_eval_config

    todo = sorted((i for i, c in enumerate(cells) if c.calls), key=lambda i:
                  cells[i].context_tokens)
    if not todo:
        return []
    picks = sorted({todo[round(j * (len(todo) - 1) / max(n - 1, 1))] for j in range(n)})
    model = ctx.model
    # Time the model from scratch: not the response cache, not a prefix kept from the call
    # before (calibration calls are few and unrelated; the run's reuse only makes it faster).
    cache, model.cache = getattr(model, "cache", None), None
    reuse = getattr(model, "reuse_prefix", None)
    if reuse:
        model.reuse_prefix = False
    out = []
    try:
        for i in picks:
            cell = built[i]
            asker = ctx.pipeline(cell.prompt, mode=cell.mode, order=cell.order, k=cell.k)
            t0 = time.perf_counter()
            answer_case(asker, [], cell_eval_config(ctx.cfg, cell), cell.dataset.cases[0], 0)
            seconds = time.perf_counter() - t0
            cells[i].calibrated_s = round(seconds, 3)
            out.append({"label": cell.label, "seconds": round(seconds, 3),
                        "context_tokens": cells[i].context_tokens})
    finally:
        model.cache = cache
        if reuse:
            model.reuse_prefix = reuse
    return out


def _extrapolate(cells: list[CellPlan], timed: list[dict]) -> None:
    """Seconds per call for each cell: a least-squares line in context tokens through the
    calibrated calls (their mean when they do not differ in size)."""
    if not timed:
        return
    xs = [t["context_tokens"] for t in timed]
    ys = [t["seconds"] for t in timed]
    slope = 0.0
    if len(timed) > 1 and max(xs) > min(xs):   # never less time for a longer prompt
        slope = max(statistics.linear_regression(xs, ys).slope, 0.0)
    intercept = statistics.fmean(ys) - slope * statistics.fmean(xs)
    for c in cells:
        c.est_call_s = round(c.calibrated_s if c.calibrated_s is not None
                             else max(intercept + slope * c.context_tokens, min(ys) / 2), 3)
