"""`promptkit schema NAME`: print a JSON Schema shipped with promptkit (standard library only)."""

from __future__ import annotations

from typing import Annotated

import typer

from promptkit.cli._app import app


@app.command("schema")
def schema_cmd(
    name: Annotated[str | None, typer.Argument(
        help="prompt, eval-config, experiment, suite or dataset.", show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the schemas and the files each "
                                                       "describes.")] = False,
    path: Annotated[bool, typer.Option("--path", help="Print where the schema file is installed "
                                                      "(for editor settings).")] = False,
) -> None:
    """Print the JSON Schema of a file you write, for editors and validators."""
    from promptkit import schemas

    if list_ or name is None:
        for entry in schemas.SCHEMAS.values():
            typer.echo(f"{entry.name:<12} {entry.files}")
        if name is None and not list_:
            typer.echo("Print one with: promptkit schema NAME", err=True)
            raise typer.Exit(2)
        return
    entry = schemas.info(name)   # an unknown name: NotFoundError, exit 2 with a suggestion
    typer.echo(str(entry.path) if path else schemas.text(name), nl=path)
