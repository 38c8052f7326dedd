"""First use with defaults: the demo collection is built from the bundled corpus on demand."""

from __future__ import annotations

from collections.abc import Callable

DEMO_COLLECTION = "demo"


def check_collection(name: str, *, chroma_url: str | None = None) -> None:
    """What `ready_collection` would refuse, found without building anything: a collection
    other than the demo one must exist and hold chunks."""
    from promptkit.errors import UserError
    from promptkit.store import open_collection

    if name == DEMO_COLLECTION:
        return   # built from the bundled corpus on first use
    if open_collection(name, chroma_url=chroma_url, create=False).count() == 0:
        raise UserError(f"collection '{name}' is empty",
                        hint=f"Ingest documents into it first: promptkit ingest PATH "
                             f"--collection {name}")


def ready_collection(name: str = DEMO_COLLECTION, *, chroma_url: str | None = None,
                     say: Callable[[str], None] = print):
    """Open collection `name`; if it is the demo one and empty, ingest the demo corpus first.

    Any other name must exist already (a NotFoundError names the known ones); an empty one
    is an error that says how to fill it.
    """
    from promptkit.errors import UserError
    from promptkit.paths import demo_corpus_dir
    from promptkit.store import open_collection

    demo = name == DEMO_COLLECTION
    collection = open_collection(name, chroma_url=chroma_url, create=demo)
    if collection.count() > 0:
        return collection
    if not demo:
        raise UserError(f"collection '{name}' is empty",
                        hint=f"Ingest documents into it first: promptkit ingest PATH "
                             f"--collection {name}")
    corpus = demo_corpus_dir()
    if not corpus.is_dir():
        raise UserError(f"the demo corpus is missing at {corpus}",
                        hint="Ingest your own documents: promptkit ingest PATH --collection demo")
    seeded = _seed_vectors(collection)
    say(f"First run: building the '{name}' collection from {corpus} "
        + ("(vectors shipped with the corpus; a few seconds) ..." if seeded else
           "(embedding on CPU, about a minute; later runs reuse it) ..."))
    shown = {"step": -1}

    def progress(p) -> None:
        # One line per tenth of the files: visible progress without flooding a log.
        step = 10 * p.files_done // p.files_total if p.files_total else 10
        if step != shown["step"]:
            shown["step"] = step
            say(f"  {p.files_done}/{p.files_total} files, {p.chunks_added} chunks embedded")

    report = collection.ingest([corpus], progress=progress)
    say(f"Ingested: {report}")
    return collection


def seed_path(embedder_name: str):
    """Vectors of the demo corpus's chunks made by `embedder_name`, shipped beside it."""
    from promptkit.paths import demo_vectors_dir

    return demo_vectors_dir() / f"demo.{embedder_name}.npz"


def _seed_vectors(collection) -> int:
    """Preload the demo chunks' vectors: the first answer need not wait for a CPU embedding
    of the whole corpus. Only vectors of the same model and version are taken."""
    embedder = collection.embedder
    seed = getattr(embedder, "seed", None)
    return seed(seed_path(embedder.name)) if seed else 0
