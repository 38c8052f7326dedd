"""Chroma clients: embedded (PersistentClient under PROMPTKIT_HOME) or a server (HttpClient).

chromadb is imported here, inside functions only: the CLI's --help must not pay for it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from promptkit import paths
from promptkit.errors import BackendUnavailable, UserError

CONNECT_TIMEOUT_S = 5.0
_clients: dict[str, object] = {}
_epoch = [0]    # bumped whenever a client is replaced: collection handles must be re-got
_lock = threading.Lock()


@dataclass(frozen=True)
class Location:
    """Where a store lives: a folder (embedded) or a server URL."""

    url: str | None
    path: Path | None

    @property
    def key(self) -> str:
        return self.url or str(self.path)

    def __str__(self) -> str:
        return self.url or str(self.path)


def resolve(chroma_url: str | None = None) -> Location:
    """--chroma-url, else $PROMPTKIT_CHROMA_URL, else the embedded store in PROMPTKIT_HOME."""
    url = chroma_url or os.environ.get("PROMPTKIT_CHROMA_URL") or None
    if url:
        return Location(url.rstrip("/"), None)
    # Resolved: a relative PROMPTKIT_HOME or a symlink must not make one folder two stores
    # (two clients on one folder, or two ingest locks that do not see each other).
    return Location(None, (paths.home() / "chroma").resolve())


def _settings():
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def check_reachable(url: str) -> None:
    """Fail fast, naming the URL: chromadb's own connect can wait a long time on a dead host."""
    import httpx

    try:
        resp = httpx.get(f"{url}/api/v2/heartbeat", timeout=CONNECT_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise BackendUnavailable(
            f"no Chroma server answers at {url} ({type(exc).__name__}: {exc})", backend="chroma",
            hint="Start one with `chroma run --path DIR --host 127.0.0.1 --port PORT`, or fix "
                 "--chroma-url / PROMPTKIT_CHROMA_URL (unset it to use the embedded store).",
        ) from exc
    if resp.status_code != 200:
        raise BackendUnavailable(f"{url} answered HTTP {resp.status_code} to Chroma's heartbeat; "
                                 "is it a Chroma server?", backend="chroma")


def _http_client(url: str):
    import chromadb

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--chroma-url '{url}' is not an http(s) URL",
                        hint="Use the form http://HOST:PORT, e.g. http://127.0.0.1:8000")
    check_reachable(url)
    port = parts.port or (443 if parts.scheme == "https" else 8000)
    try:
        return chromadb.HttpClient(host=parts.hostname, port=port, ssl=parts.scheme == "https",
                                   settings=_settings())
    except ValueError as exc:   # chromadb's "Could not connect to a Chroma server"
        raise BackendUnavailable(f"cannot connect to the Chroma server at {url}: {exc}",
                                 backend="chroma") from exc


def client_for(location: Location):
    """One client per location and process (Chroma wants a single client per folder)."""
    with _lock:
        if location.key not in _clients:
            os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
            if location.url:
                _clients[location.key] = _http_client(location.url)
            else:
                import chromadb

                location.path.mkdir(parents=True, exist_ok=True)
                _clients[location.key] = chromadb.PersistentClient(path=str(location.path),
                                                                    settings=_settings())
        return _clients[location.key]


def client_epoch() -> int:
    """Changes whenever `reload_client` replaced a client: collection handles must be re-got."""
    return _epoch[0]


def reload_client(location: Location) -> None:
    """Forget this process's client of an embedded store; the next one reads it from disk.

    An embedded client keeps each collection's vector index in memory and never sees what
    another process wrote to the folder since. Chroma caches one client per folder, so that
    cache entry goes too. The old client is not stopped: searches still running on it in other
    threads finish on the old index (stopping it would break the new client as well).
    """
    if location.url:
        return   # a server is shared by design: nothing stale to drop
    from chromadb.api.shared_system_client import SharedSystemClient

    with _lock:
        old = _clients.pop(location.key, None)
        _epoch[0] += 1
        if old is None:
            return
        identifier = getattr(old, "_identifier", None)
        registry = getattr(SharedSystemClient, "_identifier_to_system", None)
        if isinstance(registry, dict) and identifier is not None:
            registry.pop(identifier, None)
        else:   # chromadb changed its internals: the public, heavier way
            SharedSystemClient.clear_system_cache()
            _clients.clear()
