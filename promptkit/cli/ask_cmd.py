"""`promptkit ask` (streaming RAG answer with citations) and `promptkit models list`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from promptkit.cli._app import app, models_app

Rerank = Annotated[str | None, typer.Option(
    "--rerank", help="Cross-encoder (folder or hf:<org>/<name>) that reorders the retrieved "
                     "candidates before the top k are kept.")]
RerankCandidates = Annotated[int | None, typer.Option(
    "--rerank-candidates", help="Passages retrieved for reranking (default: max(4k, 20)).")]


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@app.command("ask")
def ask(
    question: str = typer.Argument(..., help="The question to answer."),
    prompt: str | None = typer.Option(None, "--prompt", "-p",
                                      help="Prompt ref (default: rag-answer@production; "
                                           "closed-book@production in closed-book mode)."),
    model: str | None = typer.Option(None, "--model", "-m",
                                     help="Model spec (default: $PROMPTKIT_MODEL, else the most "
                                          "capable packaged model installed)."),
    k: int = typer.Option(4, "-k", "--k", min=1, help="Passages to retrieve."),
    order: str = typer.Option("ranked", "--order", help="Passage order: ranked, reversed, edges."),
    collection: str = typer.Option("demo", "--collection", "-c", help="Chroma collection."),
    mode: str = typer.Option("rag", "--mode", help="rag or closed-book."),
    mmr: bool = typer.Option(False, "--mmr",
                             help="Diversify passages (maximal marginal relevance)."),
    hybrid: bool = typer.Option(False, "--hybrid", help="Fuse BM25 with vector search."),
    rerank: Rerank = None,
    rerank_candidates: RerankCandidates = None,
    show_context: bool = typer.Option(False, "--show-context",
                                      help="Print the passages given to the model first."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer and trace as JSON."),
    cache_mode: str | None = typer.Option(None, "--cache-mode",
                                          help="off, read-write, record or replay "
                                               "(default: $PROMPTKIT_CACHE_MODE or read-write)."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1,
                                          help="Answer length limit (tokens, at least 1)."),
    chroma_url: str | None = typer.Option(None, "--chroma-url", envvar="PROMPTKIT_CHROMA_URL",
                                          help="Chroma server URL (default: the embedded store)."),
) -> None:
    """Answer a question from a collection, streaming tokens, then list the cited sources."""
    import time

    from promptkit.llm.specs import prepare
    from promptkit.pipeline import Pipeline

    if mode == "oracle":
        raise typer.BadParameter("oracle mode needs given passages: use the Python API "
                                 "(Pipeline(...).ask(q, contexts=[...]))", param_hint="--mode")
    t0 = time.perf_counter()
    model = prepare(model, say=_err)   # a packaged model's one-time assembly, explained
    retriever = collection
    if mode == "rag":
        from promptkit.pipeline.demo import ready_collection

        retriever = ready_collection(collection, chroma_url=chroma_url, say=_err)
    pipe = Pipeline(prompt=prompt, model=model, collection=retriever, k=k, order=order, mmr=mmr,
                    hybrid=hybrid, mode=mode, cache_mode=cache_mode, max_tokens=max_tokens,
                    rerank=rerank, rerank_candidates=rerank_candidates)

    def show(packing) -> None:
        for p in packing.chunks:
            _err(f"--- [{p.number}] {p.chunk.source} (score {_fmt(p.chunk.score)}, "
                 f"{p.tokens} tokens)\n{p.chunk.text.strip()}")
        _err("---")

    answer = pipe.ask(question, on_token=None if as_json else _out,
                      on_context=show if show_context else None)
    if as_json:
        data = answer.to_dict()
        data["supported"] = answer.supported   # false: no passage given supports the answer
        # Time in this command before the pipeline started: opening (or building) the store.
        latency = data["trace"]["latency"]
        latency["command_s"] = round(time.perf_counter() - t0, 6)
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return
    _out("\n")
    _print_sources(answer)
    _err(f"({answer.trace['model']['spec']}, {answer.trace['latency']['total_s']:.1f} s)")


def _print_sources(answer) -> None:
    """The answer's sources (cited by the model or attributed by support), then the other
    passages it was given: where to check the answer."""
    retrieval = answer.trace.get("retrieval")
    if not retrieval:
        return
    by_n = {c.n: c for c in answer.citations}
    if by_n:
        _out("\nSources:\n")
        weak = set(answer.trace.get("unsupported_markers") or [])
        for c in answer.citations:
            how = "attributed" if c.kind != "cited" else (
                "cited, weakly supported" if c.n in weak else "cited")
            _out(f" [{c.n}] {c.source}  ({how}, support {_fmt(c.score)})\n")
    if not answer.supported:   # nothing given, or only markers whose passage does not back it
        _out(("\nSources: no" if not by_n else "No") + " supporting passage among the "
             f"{len(retrieval['packed'])} given; check the answer before using it.\n")
    others = [p for p in retrieval["packed"] if p["position"] not in by_n]
    if others:
        _out("Also given:\n")
        for p in others:
            _out(f"  [{p['position']}] {p['source']}  (score {_fmt(p['score'])})\n")


def _fmt(score) -> str:
    return "n/a" if score is None else f"{score:.3f}"


@models_app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    probe: bool = typer.Option(True, "--probe/--no-probe",
                               help="Check Ollama (OLLAMA_HOST) and the OpenAI base URL."),
) -> None:
    """Known model specs and whether each is installed or reachable now."""
    from promptkit.llm.catalog import list_models as catalog

    entries = catalog(probe=probe)
    if as_json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD)
    for column in ("spec", "status", "detail"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(e.spec, e.status, e.detail)
    Console(highlight=False).print(table)
