"""Commands: ingest, search, collections list|info|delete, eval retrieval.

Thin: parse, call promptkit.store / promptkit.retrieval, render. chromadb, torch and
sentence-transformers are imported inside command bodies only, never at module import.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from promptkit.cli._app import app, collections_app, eval_app
from promptkit.errors import UserError
from promptkit.safeparse import loads_json

_URL_HELP = "Chroma server URL (http://HOST:PORT); default: the embedded store in PROMPTKIT_HOME."
_EMB_HELP = ("Embedder: minilm, e5-multilingual, mpnet, fake, or a sentence-transformers folder. "
             "Default: the one the collection was built with, else e5-multilingual.")

# Annotated options shared by the commands (no calls in argument defaults).
ChromaUrl = Annotated[str | None, typer.Option("--chroma-url", envvar="PROMPTKIT_CHROMA_URL",
                                               help=_URL_HELP)]
CollectionName = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
EmbedderName = Annotated[str | None, typer.Option("--embedder", "-e", help=_EMB_HELP)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@app.command("ingest")
def ingest_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (walked recursively).")],
    collection: CollectionName = "demo",
    embedder: EmbedderName = None,
    chunk_tokens: Annotated[int | None, typer.Option(
        "--chunk-tokens", help="Chunk size in the embedder's tokens (200).")] = None,
    overlap: Annotated[int | None, typer.Option(
        "--overlap", help="Tokens shared by neighbouring chunks (30).")] = None,
    include: Annotated[list[str] | None, typer.Option(
        "--include", help="Only files matching this glob (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="Leave out files matching this glob (repeatable).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 2 if anything was skipped.")] = False,
    chroma_url: ChromaUrl = None,
    as_json: Json = False,
):
    """Chunk, embed and store documents; re-running only embeds what changed."""
    from promptkit.store import open_collection
    from promptkit.store.ingest import check_request

    check_request(paths, chunk_tokens, overlap)   # a typo must not create an empty collection
    coll = open_collection(collection, embedder=embedder, chroma_url=chroma_url)
    with _IngestBar(enabled=not as_json) as bar:
        report = coll.ingest(paths, chunk_tokens=chunk_tokens, overlap=overlap,
                             include=include or (), exclude=exclude or (), progress=bar.update)
    if as_json:
        _print_json(report.to_dict())
    else:
        _print_report(report, coll)
    if strict and report.skipped:
        raise UserError(f"{len(report.skipped)} skipped (--strict); the other files were ingested",
                        hint="Fix or remove the files listed above, or drop --strict.")


class _IngestBar:
    """A rich progress bar on stderr: files, chunks, chunks/s, current file."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and _console(stderr=True).is_terminal
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("files"), MofNCompleteColumn(), BarColumn(),
                TextColumn("{task.fields[chunks]} chunks ({task.fields[added]} new)"),
                TextColumn("{task.fields[rate]:.1f} chunks/s"), TimeElapsedColumn(),
                TextColumn("[dim]{task.fields[file]}"), console=_console(stderr=True),
                transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("ingest", total=None, chunks=0, added=0,
                                                 rate=0.0, file="")
        return self

    def update(self, p) -> None:
        if not self._progress:
            return
        elapsed = self._progress.tasks[0].elapsed or 0.0
        self._progress.update(self._task, completed=p.files_done, total=p.files_total,
                              chunks=p.chunks_done, added=p.chunks_added,
                              rate=p.chunks_added / elapsed if elapsed > 0 else 0.0,
                              file=Path(p.file).name if p.file else "")

    def __exit__(self, *exc):
        if self._progress:
            self._progress.__exit__(*exc)
        return False


def _print_report(report, coll) -> None:
    out = _console()
    rate = report.added / report.seconds if report.seconds > 0 else 0.0
    out.print(f"[bold]{coll.name}[/] ({coll.embedder.name}, {report.chunk_tokens}-token chunks, "
              f"overlap {report.overlap}) in {coll.location}")
    out.print(f"  added {report.added}  unchanged {report.unchanged}  updated {report.updated}  "
              f"removed {report.removed}  chunks; files read {report.files}, unchanged "
              f"{report.files_unchanged}; {report.seconds:.1f} s ({rate:.1f} chunks/s)")
    for note in report.notes:
        out.print(f"  [yellow]note:[/] {note}", markup=True)
    if report.skipped:
        out.print(f"  [yellow]skipped {len(report.skipped)}:[/]")
        for skip in report.skipped:
            out.print(f"    {skip.path}: {skip.reason}", markup=False)


def _parse_where(where: str | None) -> dict | None:
    if not where:
        return None
    try:
        value = loads_json(where)
    except json.JSONDecodeError as exc:
        raise UserError(f"--where is not valid JSON: {exc.msg} (column {exc.colno})",
                        hint='Example: --where \'{"lang": "es"}\'') from exc
    if not isinstance(value, dict):
        raise UserError("--where must be a JSON object, e.g. '{\"lang\": \"es\"}'")
    return value


@app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many chunks.")] = 4,
    mmr: Annotated[bool, typer.Option(
        "--mmr", help="Diversify (maximal marginal relevance).")] = False,
    hybrid: Annotated[bool, typer.Option(
        "--hybrid", help="Fuse BM25 with dense search (reciprocal-rank fusion).")] = False,
    min_score: Annotated[float | None, typer.Option(
        "--min-score", help="Drop hits whose cosine similarity is below this.")] = None,
    where: Annotated[str | None, typer.Option(
        "--where", help="Metadata filter in Chroma's JSON syntax, e.g. "
                        '\'{"lang": "es"}\'.')] = None,
    exact: Annotated[bool, typer.Option(
        "--exact", help="Brute-force search instead of the HNSW index.")] = False,
    dedupe: Annotated[bool, typer.Option(
        "--dedupe", help="Keep one hit per distinct text (the same passage in several files "
                         "fills one place, not several).")] = False,
    collection: CollectionName = "demo",
    embedder: EmbedderName = None,
    chroma_url: ChromaUrl = None,
    as_json: Json = False,
):
    """Find the chunks most related to QUERY."""
    from promptkit.store import open_collection

    coll = open_collection(collection, embedder=embedder, chroma_url=chroma_url, create=False)
    hits = coll.search(query, k=k, mmr=mmr, hybrid=hybrid, min_score=min_score,
                       where=_parse_where(where), exact=exact, dedupe=dedupe)
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    out = _console()
    if not hits:
        out.print("no hits" + (" (empty collection)" if coll.count() == 0 else ""))
    for h in hits:
        where_from = f"{_short(h.source)} #{h.metadata.get('chunk', '?')}"
        out.print(f"[bold]{h.rank}.[/] {h.score:.3f}  {where_from}  [dim]{h.title}[/]")
        snippet = " ".join(h.text.split())
        out.print("   " + (snippet[:300] + (" ..." if len(snippet) > 300 else "")), markup=False)


def _short(source: str) -> str:
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source


@collections_app.command("list")
def collections_list(chroma_url: ChromaUrl = None, as_json: Json = False):
    """Collections in the store, with embedder and chunk count."""
    from promptkit.store import list_collections

    rows = list_collections(chroma_url)
    if as_json:
        _print_json(rows)
        return
    out = _console()
    if not rows:
        out.print("no collections (create one with `promptkit ingest PATH`)")
    for r in rows:
        out.print(f"{r['name']:<30} {str(r['embedder']):<20} {str(r['dim']):>5}-dim "
                  f"{r['chunks']:>8} chunks", markup=False)


@collections_app.command("info")
def collections_info(name: Annotated[str, typer.Argument(help="Collection name.")] = "demo",
                     chroma_url: ChromaUrl = None, as_json: Json = False):
    """Embedder, chunking, chunk and file counts of one collection."""
    from promptkit.store import open_collection

    info = open_collection(name, chroma_url=chroma_url, create=False).info()
    if as_json:
        _print_json(info)
        return
    out = _console()
    for key, value in info.items():
        out.print(f"{key:<14}{value}", markup=False)


@collections_app.command("delete")
def collections_delete(name: Annotated[str, typer.Argument(help="Collection name.")],
                       chroma_url: ChromaUrl = None,
                       yes: Annotated[bool, typer.Option(
                           "--yes", "-y", help="Do not ask.")] = False):
    """Delete a collection and everything in it."""
    from promptkit.store import open_collection

    coll = open_collection(name, chroma_url=chroma_url, create=False)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(f"deleting '{name}' needs confirmation", hint="Pass --yes.")
        typer.confirm(f"Delete collection '{name}' ({coll.count()} chunks)?", abort=True)
    coll.delete()
    _console().print(f"deleted collection '{name}'", markup=False)


@eval_app.command("retrieval")
def eval_retrieval(
    beir_dir: Annotated[Path, typer.Option(
        "--beir", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")],
    split: Annotated[str, typer.Option("--split", help="Which qrels file.")] = "test",
    embedder: Annotated[str | None, typer.Option(
        "--embedder", "-e", help="Default: e5-multilingual.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Cut-off for recall@k and hit@k.")] = 10,
    exact: Annotated[bool, typer.Option(
        "--exact/--hnsw", help="Brute-force ranking (as MTEB) or Chroma's HNSW index.")] = True,
    run_dir: Annotated[Path | None, typer.Option(
        "--run-dir", help="Also write an evaluation run folder here (one record per query "
                          "with a relevant document), for eval report and eval compare; an "
                          "earlier retrieval run there is replaced, anything else "
                          "refused.")] = None,
    as_json: Json = False,
):
    """nDCG@10, recall@k, MRR@10 and hit@k of an embedder on a BEIR dataset."""
    from promptkit.embedders import DEFAULT, get_embedder
    from promptkit.retrieval import beir

    emb = get_embedder(embedder or DEFAULT)
    data = beir.load(beir_dir, split)   # read (and checked) once, before the long embedding
    if run_dir is not None:
        from promptkit.evaluation.retrieval_run import check_folder
        from promptkit.evaluation.rundir import now_iso

        check_folder(run_dir)           # a folder it may not write is refused before, too
        started = now_iso()
    err = _console(stderr=True)
    show = err.is_terminal and not as_json
    rankings: dict[str, list[str]] = {}
    result = beir.evaluate(beir_dir, emb, split=split, k=k, exact=exact, data=data,
                           progress=(lambda n: err.print(f"\r  embedded {n} documents", end=""))
                           if show else None, rankings=rankings)
    if show:
        err.print()
    if run_dir is not None:
        from promptkit.evaluation.retrieval_run import write_run

        result["run_dir"] = str(write_run(result, data, rankings, run_dir, started=started))
    if as_json:
        _print_json(result)
        return
    out = _console()
    out.print(f"{result['dataset']} ({split}, {result['queries']} queries, {result['documents']} "
              f"documents), {result['embedder']}, {result['search']} search", markup=False)
    for key in ("ndcg@10", f"recall@{k}", "mrr@10", f"hit@{k}"):
        out.print(f"  {key:<12}{result[key]:6.2f}", markup=False)
    if run_dir is not None:
        err.print(f"run folder: {result['run_dir']}", markup=False)
