"""One writer per collection: an advisory file lock the OS drops when its holder dies.

flock is released by the kernel even on SIGKILL, so an interrupted ingest never leaves a
stale lock behind. The lock only covers processes on this machine; across machines the
content-hash ids still keep a collection free of duplicates.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from promptkit import paths
from promptkit.errors import UserError


class CollectionBusy(UserError):
    """Another process is writing to this collection."""


@contextmanager
def writer_lock(store_key: str, collection: str) -> Iterator[None]:
    folder = paths.home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"{store_key}\0{collection}".encode()).hexdigest()[:16]
    path = folder / f"{collection}-{digest}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise CollectionBusy(
                f"collection '{collection}' is being written by another process (pid {holder})",
                hint="Wait for that ingest to finish, then run this one again.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)   # closing the descriptor releases the lock
