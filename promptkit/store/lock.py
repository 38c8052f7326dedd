"""One writer per collection: an OS file lock (see promptkit.locking) taken by every ingest.

Where the lock file lives decides who it serialises:
- embedded store: inside the store folder itself, found through its resolved path, so every
  process that reaches the same folder (any PROMPTKIT_HOME, a relative path, a symlink) takes
  the same lock;
- Chroma server: in this user's temporary folder, keyed by the server's normalised URL, so all
  processes of this user on this machine are serialised whatever their PROMPTKIT_HOME.
  Writers on other machines are not: the content-hash ids keep the collection free of
  duplicates, but run one ingest per collection at a time (docs/tasks/scale-out.md).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from promptkit.locking import Busy, exclusive
from promptkit.store.client import Location

LOCK_FOLDER = ".promptkit-locks"   # inside an embedded store folder


class CollectionBusy(Busy):
    """Another process is writing to this collection."""


def normalise_url(url: str) -> str:
    """`HTTP://Host:8000/` and `http://host:8000` name one server."""
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "http").lower()
    port = parts.port or (443 if scheme == "https" else 8000)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"


def lock_path(location: Location, collection: str) -> Path:
    if location.url is None:
        return Path(os.path.realpath(location.path)) / LOCK_FOLDER / f"{collection}.lock"
    digest = hashlib.sha256(normalise_url(location.url).encode()).hexdigest()[:16]
    user = getattr(os, "getuid", lambda: os.environ.get("USERNAME", "user"))()
    folder = Path(tempfile.gettempdir()) / f"promptkit-locks-{user}"
    return folder / f"{collection}-{digest}.lock"


@contextmanager
def writer_lock(location: Location, collection: str) -> Iterator[None]:
    with exclusive(lock_path(location, collection), busy=CollectionBusy,
                   what=f"collection '{collection}' in {location} is being written by",
                   hint="Wait for that ingest to finish, then run this one again."):
        yield
