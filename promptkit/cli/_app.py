"""The Typer applications every command module registers on, and the error boundary."""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="promptkit",
    help="Versioned prompts, RAG over Chroma, and evaluation with statistics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
prompts_app = typer.Typer(help="List, show, render, diff, scaffold and check prompt templates.",
                          no_args_is_help=True)
collections_app = typer.Typer(help="Inspect and delete Chroma collections.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate retrieval and answers; compare runs; reports.",
                       no_args_is_help=True)
models_app = typer.Typer(help="Model specs: what is known, installed or reachable.",
                         no_args_is_help=True)
experiment_app = typer.Typer(help="Context-length and prompt-kind experiments.",
                             no_args_is_help=True)

app.add_typer(prompts_app, name="prompts")
app.add_typer(collections_app, name="collections")
app.add_typer(eval_app, name="eval")
app.add_typer(models_app, name="models")
app.add_typer(experiment_app, name="experiment")

_state = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug",
                                     help="Show tracebacks (or set PROMPTKIT_DEBUG=1).")):
    _state["debug"] = debug or os.environ.get("PROMPTKIT_DEBUG", "") not in ("", "0")


def debug_enabled() -> bool:
    return _state["debug"] or os.environ.get("PROMPTKIT_DEBUG", "") not in ("", "0")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; library errors become messages, not tracebacks."""
    from promptkit.errors import PromptkitError

    try:
        # Outside standalone mode click returns (not raises) the code of a typer.Exit.
        rv = app(args=argv, prog_name="promptkit", standalone_mode=False)
    except PromptkitError as exc:
        if debug_enabled():
            raise
        _print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # sys.exit() inside a command
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - the boundary: anything unexpected is exit 1
        if isinstance(exc, typer.Exit):
            return exc.exit_code
        if isinstance(exc, _click_exceptions().ClickException):  # bad option, unknown command
            exc.show()
            return exc.exit_code
        if isinstance(exc, typer.Abort):
            print("aborted", file=sys.stderr)
            return 130
        if debug_enabled():
            raise
        print(f"promptkit: unexpected error: {type(exc).__name__}: {exc}\n"
              "Run again with --debug (or PROMPTKIT_DEBUG=1) for the traceback, and report it.",
              file=sys.stderr)
        return 1
    return rv if isinstance(rv, int) else 0


def _click_exceptions():
    """Click's exception module: typer >= 0.29 vendors click as typer._click."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


def _print_error(exc) -> None:
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]error:[/] {exc.message}", markup=True)
    if exc.hint:
        console.print(exc.hint, markup=False)
