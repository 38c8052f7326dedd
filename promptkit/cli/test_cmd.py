"""`promptkit test`: run regression suites — pytest with the promptkit plugin, plus its table.

Everything happens in the pytest plugin (`promptkit.testing.plugin`); this command only turns
its options into pytest arguments, so `promptkit test X --mode replay` and
`pytest X --promptkit-mode replay` are the same run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from promptkit.cli._app import app

DEFAULT_SUITES = Path("eval") / "suites"


def pytest_args(suites: list[Path], *, mode: str | None, prompts: list[str], bless: bool,
                repeats: int | None, select: str | None, report: Path | None, verbose: int,
                extra: list[str], junit_xml: Path | None = None,
                summary_md: Path | None = None, run_dir: Path | None = None) -> list[str]:
    """The pytest command line equivalent to a `promptkit test` call."""
    from promptkit.errors import UserError

    if not suites:
        if not DEFAULT_SUITES.is_dir():
            raise UserError(f"no suite given and {DEFAULT_SUITES}/ does not exist here",
                            hint="Pass suite files or folders: "
                                 "promptkit test eval/suites/demo.yaml")
        suites = [DEFAULT_SUITES]
    for path in suites:
        if not path.exists():
            raise UserError(f"suite path not found: {path}",
                            hint="Pass a suite YAML file or a folder of them.")
    args = [str(p) for p in suites]
    # The plugin collects only what it is told to: these paths, whatever the ini says.
    args += [f"--promptkit-suite={p}" for p in suites]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "promptkit"]   # entry-point plugins are off: load ours by name
    if mode:
        args.append(f"--promptkit-mode={mode}")
    args += [f"--promptkit-prompt={p}" for p in prompts]
    if bless:
        args.append("--promptkit-bless")
    if repeats:
        args.append(f"--promptkit-repeats={repeats}")
    if select:
        args += ["-k", select]
    if report:
        args.append(f"--promptkit-report={report}")
    if junit_xml:
        args.append(f"--junit-xml={junit_xml}")
    if summary_md:
        args.append(f"--promptkit-summary-md={summary_md}")
    if run_dir:
        args.append(f"--promptkit-run-dir={run_dir}")
    if verbose:
        args.append("-" + "v" * verbose)
    return args + list(extra)


@app.command("test")
def test(
    suites: Annotated[list[Path] | None, typer.Argument(
        help="Suite files or folders (default: eval/suites).", show_default=False)] = None,
    mode: Annotated[str | None, typer.Option(
        "--mode", help="replay (recorded answers), record (call the model, save answers), "
                       "read-write (replay what is recorded, record the rest) or off (call the "
                       "model, save nothing). Default: replay under CI; elsewhere "
                       "$PROMPTKIT_CACHE_MODE, else off.")
    ] = None,
    prompt: Annotated[list[str] | None, typer.Option(
        "--prompt", help="Prompt version to test instead of the suite's (NAME@VERSION); give it "
                         "twice to compare two versions side by side.")] = None,
    bless: Annotated[bool, typer.Option(
        "--bless", help="Store this run's per-case results as the suite's baseline.")] = False,
    repeats: Annotated[int | None, typer.Option(
        "--repeats", min=1, help="Answer each case N times; disagreeing cases are flaky.")] = None,
    select: Annotated[str | None, typer.Option(
        "-k", help="Only cases whose id matches this pytest -k expression.")] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Also write every case result as JSON to this file.")] = None,
    junit_xml: Annotated[Path | None, typer.Option(
        "--junit-xml", help="Write JUnit XML (one test case per suite case and gate) for CI.")
    ] = None,
    summary_md: Annotated[Path | None, typer.Option(
        "--summary-md", help="Write a Markdown summary (pass rates, gates, flipped cases), "
                             'e.g. to "$GITHUB_STEP_SUMMARY" or a pull-request comment.')
    ] = None,
    run_dir: Annotated[Path | None, typer.Option(
        "--run-dir", help="Also write each suite x prompt version as an evaluation run folder "
                          "under this folder: `promptkit eval report` renders it (Markdown, "
                          "HTML), `promptkit eval compare` pairs two.")] = None,
    verbose: Annotated[int, typer.Option(
        "-v", "--verbose", count=True, help="Show every case, and failing cases' outputs.")] = 0,
    pytest_extra: Annotated[str | None, typer.Option(
        "--pytest-args", help="More pytest arguments, as one string: '-x --tb=short'.")] = None,
) -> None:
    """Run regression suites and print pass rates, scores and the baseline gate."""
    import shlex

    from promptkit.choices import CACHE_MODES, OLD_CACHE_MODE_NAMES
    from promptkit.errors import MissingDependencyError, UserError

    if mode is not None and mode not in (*CACHE_MODES, *OLD_CACHE_MODE_NAMES):
        raise UserError(f"--mode '{mode}' is not one of: {', '.join(CACHE_MODES)}")
    args = pytest_args(list(suites or []), mode=mode, prompts=list(prompt or []), bless=bless,
                       repeats=repeats, select=select, report=report, verbose=verbose,
                       extra=shlex.split(pytest_extra or ""), junit_xml=junit_xml,
                       summary_md=summary_md, run_dir=run_dir)
    try:
        import pytest
    except ImportError as exc:
        raise MissingDependencyError("`promptkit test`", "test") from exc
    code = int(pytest.main(args))
    if code == int(pytest.ExitCode.NO_TESTS_COLLECTED):
        where = " ".join(str(s) for s in suites or []) or str(DEFAULT_SUITES)
        from promptkit.testing.plugin import SUITE_RULE

        raise UserError(f"no suite cases found in {where}",
                        hint=SUITE_RULE[0].upper() + SUITE_RULE[1:] + ".")
    if code == int(pytest.ExitCode.USAGE_ERROR):
        code = 2
    raise typer.Exit(code)   # pytest's failures must reach the exit code
