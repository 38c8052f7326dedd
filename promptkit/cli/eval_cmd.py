"""`promptkit eval run | compare | report`: thin commands over `promptkit.evaluation`.

(`eval retrieval` is registered by the retrieval commands' module.)
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from promptkit.cli._app import eval_app


class BadLines(StrEnum):
    skip = "skip"
    stop = "stop"


def _print_markdown(text: str) -> None:
    """Rendered tables on a terminal; the plain Markdown when piped (it is readable as is)."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        print(text, end="")


def _err(message: str) -> None:
    print(message, file=sys.stderr)


@eval_app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="Eval config YAML (see eval/configs/).")],
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-j", min=1,
                           help="Cases asked at once (default: the config's, else 1).")] = None,
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Run folder to create, or to "
                       "resume when it holds an unfinished run of this config.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1,
                     help="Only the first N dataset cases.")] = None,
    on_bad_lines: Annotated[BadLines | None, typer.Option("--on-bad-lines",
                            help="Bad dataset records: skip them (listed) or stop before any "
                                 "model call.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run an evaluation into runs/<run-id>/ (resumable: re-run with --run-dir to finish it)."""
    from promptkit.cli._progress import progress_bar
    from promptkit.evaluation.comparison import load_run
    from promptkit.evaluation.reporting import run_markdown
    from promptkit.evaluation.runner import run_eval

    with progress_bar("eval") as bar:
        result = run_eval(config, run_dir, concurrency, limit=limit,
                          on_bad_lines=on_bad_lines.value if on_bad_lines else None,
                          progress=bar.update, notify=bar.say)
    if as_json:
        print(json.dumps(result.summary, indent=2, ensure_ascii=False))
        return
    _print_markdown(run_markdown(load_run(result.run_dir)))
    _err(f"run folder: {result.run_dir}")


@eval_app.command("compare")
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="Baseline run (folder or run id).")],
    run_b: Annotated[str, typer.Argument(help="Run compared against it.")],
    alpha: Annotated[float, typer.Option("--alpha", min=0.0, max=1.0,
                     help="Significance level.")] = 0.05,
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m",
                      help="Only these metrics (repeatable).")] = None,
    test: Annotated[str | None, typer.Option("--test", help="Continuous metrics: wilcoxon "
                    "(default), permutation or bootstrap.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Paired comparison of two runs by case id: deltas, CIs, tests, verdicts, flipped cases."""
    from promptkit.evaluation.api import compare
    from promptkit.evaluation.reporting import compare_markdown

    cmp = compare(run_a, run_b, alpha=alpha, metrics=metric or None, test=test)
    if as_json:
        print(json.dumps(cmp.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        _print_markdown(compare_markdown(cmp))


@eval_app.command("report")
def report_cmd(
    run: Annotated[str, typer.Argument(help="Run folder or run id.")],
    compare_to: Annotated[str | None, typer.Option("--compare", help="Second run (B) to compare "
                          "this one (A) with.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML "
                    "page here.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0, max=1.0)] = 0.05,
) -> None:
    """Markdown report of a run (with --compare, of both and their differences)."""
    from promptkit.evaluation.api import report

    _print_markdown(report(run, compare_to=compare_to, html=html, alpha=alpha))
    if html is not None:
        _err(f"HTML report: {html}")
