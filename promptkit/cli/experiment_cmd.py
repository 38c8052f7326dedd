"""`promptkit experiment run | report`: thin commands over `promptkit.experiments`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from promptkit.cli._app import experiment_app


def _print_markdown(text: str) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        print(text, end="")


def _command(config: Path, limit, concurrency, run_dir) -> str:
    """The command line as the report shows it (what to type to do it again)."""
    parts = ["promptkit", "experiment", "run", str(config)]
    if limit is not None:
        parts += ["--limit", str(limit)]
    if concurrency is not None:
        parts += ["--concurrency", str(concurrency)]
    if run_dir is not None:
        parts += ["--run-dir", str(run_dir)]
    return " ".join(shlex.quote(p) for p in parts)


@experiment_app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="Experiment config YAML (see eval/experiments/).")],
    limit: Annotated[int | None, typer.Option("--limit", min=1,
                     help="At most N cases per cell (the config's data.limit otherwise).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-j", min=1,
                           help="Cases asked at once within a cell.")] = None,
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Experiment folder to create, "
                       "or to resume when it holds an unfinished run of this config.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q",
                     help="Do not print the report at the end.")] = False,
    plan: Annotated[bool, typer.Option("--plan", help="Do not run: build the cells, time a few "
                    "real calls (--calibrate), and print the model calls, the estimated wall time "
                    "and the smallest effect each paired contrast can detect. Writes nothing.")
                    ] = False,
    calibrate: Annotated[int, typer.Option("--calibrate", min=0, help="With --plan: real calls "
                         "to time (0: no estimate of wall time).")] = 3,
    discordant: Annotated[float, typer.Option("--discordant", min=0.001, max=1.0,
                          help="With --plan, 0/1 metrics: assumed share of questions two cells "
                               "score differently.")] = 0.25,
    sd: Annotated[float, typer.Option("--sd", min=0.001, help="With --plan, other metrics: "
                  "assumed sd of the per-question differences.")] = 0.30,
) -> None:
    """Run an experiment: every cell through the harness, then the report and its figure."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    if plan:
        from promptkit.experiments.planning import plan_experiment

        print(plan_experiment(config, run_dir, limit=limit, calibrate=calibrate,
                              discordant=discordant, spread=sd,
                              notify=lambda m: console.print(m, markup=False)).text())
        return
    from promptkit.cli._progress import progress_bar
    from promptkit.experiments.runner import run_experiment

    with progress_bar("experiment") as bar:
        def progress(number: int, cells: int, label: str, done: int, total: int) -> None:
            bar.update(done, total, label=f"cell {number}/{cells} {label}")

        def notify(message: str) -> None:
            if "run folder:" not in message:   # one line per cell would drown the bar
                bar.say(message)

        result = run_experiment(config, run_dir, concurrency=concurrency, limit=limit,
                                progress=progress, notify=notify,
                                command=_command(config, limit, concurrency, run_dir))
    if not quiet and result.report_path is not None:
        _print_markdown(result.report_path.read_text(encoding="utf-8"))
    console.print(f"experiment folder: {result.run_dir}", markup=False)
    if result.report_path is not None:
        console.print(f"report: {result.report_path}", markup=False)


@experiment_app.command("report")
def report_cmd(
    run: Annotated[str, typer.Argument(help="Experiment folder, or its run id under ./runs.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q",
                     help="Only write the files; print their paths.")] = False,
) -> None:
    """Analyse an experiment folder again (finished or not) and redraw its report and figure."""
    from promptkit.experiments.runner import reanalyse

    result = reanalyse(run)
    if not quiet:
        _print_markdown(result.report_path.read_text(encoding="utf-8"))
    print(f"report: {result.report_path}", file=sys.stderr)
