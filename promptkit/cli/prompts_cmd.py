"""`promptkit prompts ...`: list, show, render, diff, new, check, export and import prompts.

Thin: every command parses, calls `promptkit.prompts`, and prints; errors are raised as
promptkit errors and turned into messages by the boundary in `_app.run`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promptkit.cli._app import prompts_app

if TYPE_CHECKING:
    from promptkit.prompts import PromptRegistry, PromptSpec

# Annotated options: shared by every command, and no calls in argument defaults.
Root = Annotated[Path | None, typer.Option("--root", help="Prompts folder (default: "
                                           "$PROMPTKIT_PROMPTS, else ./prompts); promptkit's "
                                           "shipped prompts fill in names it lacks.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Ref = Annotated[str, typer.Argument(help="NAME (latest), NAME@VERSION or NAME@LABEL.")]


def _registry(root: Path | None) -> PromptRegistry:
    from promptkit.prompts import PromptRegistry

    # The shipped library completes the user's folder: `ask -p rag-answer@2` works anywhere.
    return PromptRegistry(root, shipped=True)


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


@prompts_app.command("list")
def list_prompts(root: Root = None, as_json: Json = False) -> None:
    """List prompts: versions, labels, kind and description of the latest version."""
    reg = _registry(root)
    rows = []
    for name in reg.names():
        versions = reg.versions(name)
        latest = reg.get(name, versions[-1])
        rows.append({"name": name, "versions": versions, "latest": versions[-1],
                     "labels": reg.labels(name), "kind": latest.kind,
                     "variables": sorted(latest.variables), "description": latest.description,
                     "source": reg.source(name), "folder": str(latest.path.parent.parent)})
    if as_json:
        _print_json(rows)
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # Variables are left to `show`/--json so the description keeps room on 80 columns.
    title = f"prompts in {reg.root}"
    if reg.fallback is not None and any(r["source"] == "shipped" for r in rows):
        title += f", then shipped with promptkit ({reg.fallback.root})"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("name", no_wrap=True)
    for col in ("versions", "labels", "kind", "source"):
        table.add_column(col)
    table.add_column("description", ratio=1)
    for r in rows:
        labels = ", ".join(f"{k}@{v}" for k, v in r["labels"].items())
        # Text cells: descriptions like "[n] citations" are not rich markup.
        table.add_row(*(Text(cell) for cell in (
            r["name"], ", ".join(map(str, r["versions"])), labels, r["kind"], r["source"],
            r["description"])))
    _console().print(table)


def _spec_dict(spec: PromptSpec, lock_state: str) -> dict:
    return {"ref": spec.ref, **spec.model_dump(mode="json"), "variables": sorted(spec.variables),
            "hash": spec.hash, "lock": lock_state, "path": str(spec.path)}


def _lock_state(reg: PromptRegistry, spec: PromptSpec) -> str:
    from promptkit.prompts.lock import read_lock

    locked = read_lock(reg.owner(spec.name).lock_path).get(spec.ref)
    if locked is None:
        return "unlocked"
    return "locked" if locked == spec.hash else "modified"


@prompts_app.command("show")
def show(ref: Ref, root: Root = None, as_json: Json = False) -> None:
    """Show one prompt version: metadata, variables, hash, lock state and its file."""
    reg = _registry(root)
    spec = reg.load(ref)
    info = _spec_dict(spec, _lock_state(reg, spec))
    if as_json:
        _print_json(info)
        return
    console = _console()
    for key in ("ref", "kind", "description", "labels", "variables", "hash", "lock", "path"):
        value = info[key]
        value = ", ".join(map(str, value)) if isinstance(value, list) else value
        console.print(f"[bold]{key}:[/] ", end="")
        console.print(str(value), markup=False)
    console.rule(str(spec.path))
    console.print(spec.path.read_text(encoding="utf-8").rstrip("\n"), markup=False,
                  soft_wrap=True)


def _read_var_file(path: Path) -> dict[str, str]:
    from promptkit.errors import ConfigError
    from promptkit.prompts.loading import read_yaml

    _, data = read_yaml(path)   # JSON is YAML too
    out = {}
    for key, value in data.items():
        if isinstance(value, dict | list) or value is None:
            raise ConfigError("variable values must be text or numbers", path=str(path),
                              field=str(key))
        out[str(key)] = str(value)
    return out


def _parse_vars(pairs: list[str]) -> dict[str, str]:
    from promptkit.errors import UserError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--var '{pair}' is not KEY=VALUE",
                            hint="Example: --var question='What is BERT?' (or use --var-file).")
        out[key.strip()] = value
    return out


@prompts_app.command("render")
def render(ref: Ref,
           var: Annotated[list[str] | None, typer.Option(
               "--var", help="KEY=VALUE; repeat for each variable.")] = None,
           var_file: Annotated[Path | None, typer.Option(
               "--var-file", help="YAML or JSON mapping of variables (--var overrides it).")
           ] = None,
           example_query: Annotated[str | None, typer.Option(
               "--example-query", help="Text that semantic few-shot selection compares with.")
           ] = None,
           seed: Annotated[int | None, typer.Option(
               "--seed", help="Seed for random few-shot selection.")] = None,
           n_examples: Annotated[int | None, typer.Option(
               "--n-examples", help="How many few-shot examples to use.")] = None,
           root: Root = None, as_json: Json = False) -> None:
    """Render a prompt to chat messages (strict: every variable, and only those)."""
    spec = _registry(root).load(ref)
    values = {**(_read_var_file(var_file) if var_file else {}), **_parse_vars(var or [])}
    messages = spec.render(example_query=example_query, seed=seed, n_examples=n_examples,
                           **values)
    if as_json:
        _print_json({"ref": spec.ref, "hash": spec.hash, "messages": messages,
                     "params": spec.gen_params().as_dict()})
        return
    console = _console()
    for message in messages:
        console.rule(message["role"], align="left")
        # soft_wrap: never insert line breaks into text the user may copy into a chat.
        console.print(message["content"], markup=False, soft_wrap=True)


@prompts_app.command("diff")
def diff(ref_a: Annotated[str, typer.Argument(help="First reference, e.g. rag-answer@1.")],
         ref_b: Annotated[str, typer.Argument(help="Second reference, e.g. rag-answer@2.")],
         root: Root = None, as_json: Json = False) -> None:
    """Unified diff between two prompt versions' files."""
    reg = _registry(root)
    text = reg.diff(ref_a, ref_b)
    if as_json:
        a, b = reg.load(ref_a), reg.load(ref_b)
        _print_json({"a": a.ref, "b": b.ref, "a_hash": a.hash, "b_hash": b.hash,
                     "identical": not text, "diff": text})
        return
    console = _console()
    if not text:
        console.print("no differences")
        return
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in text.splitlines():
        console.print(line, style=styles.get(line[:1]), markup=False, soft_wrap=True)


@prompts_app.command("new")
def new(name: Annotated[str, typer.Argument(help="Prompt name; a new name starts at v1.")],
        root: Root = None, as_json: Json = False) -> None:
    """Scaffold the next version of NAME from its latest (labels are not copied)."""
    reg = _registry(root)
    path = reg.new(name)
    version = int(path.stem[1:])
    if as_json:
        _print_json({"ref": f"{name}@{version}", "path": str(path)})
        return
    source = f" from {name}@{version - 1}" if version > 1 else ""
    _console().print(f"created {path}{source}. Edit it, then release it with "
                     "`promptkit prompts check --lock`.", markup=False)


@prompts_app.command("check")
def check(lock: Annotated[bool, typer.Option(
              "--lock", help="Also release unlocked versions (record their hashes).")] = False,
          root: Root = None, as_json: Json = False) -> None:
    """Validate every prompt file and compare released versions with prompts.lock."""
    reg = _registry(root)
    report = reg.status()
    added = reg.lock() if lock and not report.problems else []
    if added:
        report = reg.status()
    if as_json:
        _print_json({**report.as_dict(), "locked_now": added})
    else:
        _print_report(reg, report, added)
    report.raise_for_problems(reg.lock_path)


def _print_report(reg: PromptRegistry, report, added: list[str]) -> None:
    from rich.table import Table

    table = Table(title=str(reg.lock_path))
    table.add_column("version")
    table.add_column("state")
    rows = [(ref, "locked now" if ref in added else "ok") for ref in report.ok]
    rows += [(ref, "unlocked (draft)") for ref, _ in report.unlocked]
    rows += [(m.ref, "EDITED after release") for m in report.modified]
    rows += [(ref, "FILE MISSING") for ref in report.missing]
    for ref, state in rows:
        table.add_row(ref, state)
    console = _console()
    console.print(table)
    if report.unlocked and not report.problems:
        console.print(f"{len(report.unlocked)} unlocked version(s); release them with "
                      "`promptkit prompts check --lock`.", markup=False)


@prompts_app.command("export")
def export(ref: Ref,
           fmt: Annotated[str, typer.Option(
               "--format", "-f", help="promptfoo, langfuse, dotprompt or prompty.")],
           output: Annotated[Path | None, typer.Option(
               "--output", "-o", help="Write to this file instead of standard output.")] = None,
           root: Root = None) -> None:
    """Write a prompt version in another tool's format (plain {{variable}} templates)."""
    from promptkit.prompts.interop import export_prompt

    text = export_prompt(_registry(root).load(ref), fmt)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)


@prompts_app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="The prompt file to import.")],
            source_format: Annotated[str, typer.Option(
                "--from", help="dotprompt, prompty, langfuse or promptfoo.")],
            name: Annotated[str | None, typer.Option(
                "--name", help="Prompt name (default: the file's own name, else its stem).")
            ] = None,
            root: Annotated[Path | None, typer.Option(
                "--root", help="Prompts folder to add the version to (default: "
                               "$PROMPTKIT_PROMPTS, else ./prompts).")] = None,
            as_json: Json = False) -> None:
    """Add a dotprompt, Prompty, Langfuse or promptfoo prompt as the next version of a prompt."""
    from promptkit.prompts.interop import import_prompt

    result = import_prompt(file, source_format, root=root, name=name)
    if as_json:
        _print_json({"ref": result.ref, "path": str(result.path), "ignored": result.ignored})
        return
    console = _console()
    console.print(f"created {result.path} ({result.ref}). Check it with `promptkit prompts "
                  f"render {result.ref}`, release it with `promptkit prompts check --lock`.",
                  markup=False)
    if result.ignored:
        console.print("not carried over (no promptkit equivalent): " + ", ".join(result.ignored),
                      markup=False)
