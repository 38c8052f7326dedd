"""`promptkit doctor`: check the installation and configuration; exit 1 with what to fix."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from promptkit.cli._app import app

_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "    "}


@app.command("doctor")
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Model spec to check (default: what `ask` would use).")] = None,
    embedder: Annotated[str | None, typer.Option(
        "--embedder", "-e", help="Embedder to check (default: e5-multilingual).")] = None,
    chroma_url: Annotated[str | None, typer.Option(
        "--chroma-url", envvar="PROMPTKIT_CHROMA_URL",
        help="Chroma server to check (default: the embedded store).")] = None,
) -> None:
    """Python, extras, models, embedders, threads, the store: exit 0 if usable, 1 with fixes."""
    from promptkit.doctor import healthy, run_checks

    checks = run_checks(model=model, embedder=embedder, chroma_url=chroma_url)
    ok = healthy(checks)
    if as_json:
        print(json.dumps({"healthy": ok, "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{_MARK[c.status]}  {c.name:<{width}}  {c.detail}")
        fixes = [c for c in checks if c.fix and c.status in ("fail", "warn")]
        if fixes:
            print("\nTo fix:" if not ok else "\nWorth a look:")
            for c in fixes:
                print(f"  {c.name}: {c.fix}")
        print("\n" + ("healthy" if ok else "not healthy: fix the FAIL lines above"))
    raise typer.Exit(0 if ok else 1)
