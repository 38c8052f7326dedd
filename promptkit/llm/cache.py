"""One response cache for every backend: SQLite, keyed by model + parameters + messages.

Modes: `off` (never touch it), `read-write` (answer from it when possible, store new answers),
`record` (always call the model and overwrite: refreshes recordings), `replay` (answer only
from it; a miss is an error, so an offline regression suite cannot silently call a model).
Only request content and the answer are stored: no headers, keys, or credentials in URLs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from promptkit.choices import CACHE_MODES as MODES
from promptkit.errors import ReplayMissError, UserError
from promptkit.llm.base import Generation, GenParams, Message
from promptkit.llm.redact import public_spec

ENV_VAR = "PROMPTKIT_CACHE_MODE"
KEY_VERSION = 1  # bump when the key recipe changes, so old rows stop matching

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    messages TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    finish_reason TEXT,
    created_at REAL NOT NULL
)
"""


def resolve_mode(mode: str | None = None) -> str:
    """The explicit mode, else $PROMPTKIT_CACHE_MODE, else read-write; checked."""
    chosen = mode or os.environ.get(ENV_VAR) or "read-write"
    if chosen not in MODES:
        source = "cache mode" if mode else f"${ENV_VAR}"
        raise UserError(f"{source} '{chosen}' is not one of: {', '.join(MODES)}",
                        hint="Use off, read-write (default), record or replay.")
    return chosen


def default_path() -> Path:
    from promptkit.paths import home

    return home() / "cache.sqlite"


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def request_key(spec: str, params: GenParams, messages: Sequence[Message]) -> str:
    """sha256 of the canonical JSON of everything that determines the answer."""
    payload = {"v": KEY_VERSION, "model": public_spec(spec), "params": params.as_dict(),
               "messages": [{"role": m["role"], "content": m["content"]} for m in messages]}
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


class ResponseCache:
    """A cache file plus a mode. The database opens on first use, not at construction."""

    def __init__(self, path: str | Path | None = None, mode: str | None = None):
        self.mode = resolve_mode(mode)
        self.path = Path(path).expanduser() if path else default_path()
        # The default cache is local state and can use WAL (no fsync per answer stored). An
        # explicit file is usually a recordings file kept in git: WAL would rewrite its header
        # and need -wal/-shm files beside it even to read, so it keeps a rollback journal.
        self._wal = path is None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, mode={self.mode!r})"

    @property
    def consults(self) -> bool:
        return self.mode in ("read-write", "replay")

    def stores(self, params: GenParams) -> bool:
        # A sampled answer without a seed is one draw among many; caching it in read-write
        # mode would freeze it. Recording keeps it on purpose (that is what a recording is).
        return self.mode == "record" or (self.mode == "read-write" and params.deterministic)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open_readonly() if self.mode == "replay" else self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The busy timeout lets parallel processes (eval workers, test runs) take turns.
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        if self._wal:
            conn.execute("PRAGMA journal_mode=WAL")
        # A lost last answer after a power cut is acceptable for a cache; an fsync per
        # stored answer (15 ms here) is not.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        conn.commit()
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        """Replay reads only: the recordings file may sit in a read-only checkout."""
        hint = (f"Record it first: run once with {ENV_VAR}=record (or --cache-mode record) "
                "against a live model.")
        if not self.path.is_file():
            raise ReplayMissError(f"replay mode: recordings file {self.path} does not exist",
                                  hint=hint)
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30,
                               check_same_thread=False)
        found = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND "
                             "name='responses'").fetchone()
        if found is None:
            conn.close()
            raise ReplayMissError(f"replay mode: {self.path} holds no recorded responses",
                                  hint=hint)
        return conn

    def lookup(self, spec: str, params: GenParams,
               messages: Sequence[Message]) -> Generation | None:
        """The stored answer, or None; in replay mode a miss raises ReplayMissError."""
        key = request_key(spec, params, messages)
        with self._lock:
            row = self._db().execute(
                "SELECT text, prompt_tokens, completion_tokens, finish_reason FROM responses"
                " WHERE key = ?", (key,)).fetchone()
        if row is None:
            if self.mode == "replay":
                raise ReplayMissError(
                    f"replay mode: no recorded response for model {public_spec(spec)} "
                    f"(request {key[:12]}) in {self.path}",
                    hint="The prompt, model, parameters or retrieved context changed since it "
                         f"was recorded. Re-record: run again with {ENV_VAR}=record (or "
                         "--cache-mode record) against a live model.")
            return None
        text, prompt_tokens, completion_tokens, finish = row
        return Generation(text=text, model=spec, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, first_token_s=0.0,
                          finish_reason=finish, cached=True, params=params.as_dict())

    def store(self, spec: str, params: GenParams, messages: Sequence[Message],
              gen: Generation) -> None:
        key = request_key(spec, params, messages)
        row = (key, public_spec(spec), _canonical(params.as_dict()),
               _canonical([{"role": m["role"], "content": m["content"]} for m in messages]),
               gen.text, gen.prompt_tokens, gen.completion_tokens, gen.finish_reason, time.time())
        with self._lock:
            db = self._db()
            db.execute("INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?)", row)
            db.commit()

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._lock:
            return self._db().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
