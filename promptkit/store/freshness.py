"""An embedded store changed by another process: notice it, and read it from disk again.

Chroma's embedded client keeps each collection's vector index in memory and never sees what
another process writes to the same folder: plain search silently misses the new chunks, and
reads that need their vectors fail with Chroma's "Error finding id". Every ingest that changes a
collection bumps its recorded generation, so before each search this process compares the
collection's (id, generation) with the one its index was loaded at, and on a change drops the
client (`client.reload_client`) so the next read loads the folder afresh.

That covers a writer that has finished. While another process is still writing, a search can
still hit a half-written index; it is then retried once on a fresh client, and if that fails
too, `StaleStoreError` says what to do. The rule stays: one writer process per embedded store,
and a Chroma server when several processes read and write at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from promptkit.errors import UserError
from promptkit.store.client import Location, client_for, reload_client

META_GENERATION = "promptkit:generation"   # bumped by every ingest that changes the contents

_known: dict[tuple[str, str], tuple[str, int]] = {}   # what this process's index reflects
_lock = threading.Lock()
T = TypeVar("T")


class StaleStoreError(UserError):
    """The embedded store is being changed by another process while this one reads it."""


def stamp(chroma_collection) -> tuple[str, int]:
    """(collection id, generation): the id changes when a collection is deleted and re-made."""
    meta = chroma_collection.metadata or {}
    return str(chroma_collection.id), int(meta.get(META_GENERATION, 0) or 0)


def remember(location: Location, chroma_collection) -> None:
    """A collection opened for the first time in this process: its index is loaded as it is now."""
    if location.url is None:
        with _lock:
            _known.setdefault((location.key, chroma_collection.name), stamp(chroma_collection))


def mark_written(location: Location, chroma_collection) -> None:
    """This process changed the collection itself: its own index already holds the change."""
    if location.url is None:
        with _lock:
            _known[(location.key, chroma_collection.name)] = stamp(chroma_collection)


def fresh_handle(location: Location, name: str):
    """The collection as the store has it now, reloading the client if another process wrote.

    A server is shared by design and never stale: its handle is only re-got for fresh metadata.
    """
    from chromadb.errors import NotFoundError as ChromaNotFound

    try:
        handle = client_for(location).get_collection(name, embedding_function=None)
    except ChromaNotFound:
        raise StaleStoreError(f"collection '{name}' in {location} was deleted by another "
                              "process", hint=_RULE) from None
    if location.url is not None:
        return handle
    current = stamp(handle)
    with _lock:
        known = _known.setdefault((location.key, name), current)
        if known == current:
            return handle
        _known[(location.key, name)] = current
        reload_client(location)
    return client_for(location).get_collection(name, embedding_function=None)


def retry_if_stale(location: Location, name: str, read: Callable[[], T]) -> T:
    """`read()`, once more on a fresh client if another process's half-done write broke it."""
    from chromadb.errors import InternalError

    try:
        return read()
    except InternalError as exc:
        if location.url is not None or "finding id" not in str(exc):
            raise
    reload_client(location)
    try:
        return read()
    except InternalError as exc:
        if "finding id" not in str(exc):
            raise
        raise StaleStoreError(
            f"collection '{name}' in {location} is being changed by another process while this "
            "one reads it, and an embedded store cannot be read safely during another "
            "process's write", hint="Search again when that ingest has finished. " + _RULE
        ) from None


_RULE = ("An embedded store (the default, under PROMPTKIT_HOME) takes one writer process at a "
         "time; for several processes reading and writing at once, run a Chroma server and "
         "use --chroma-url (docs/tasks/scale-out.md).")
