"""One writer at a time: an exclusive lock on a file, with the holder named to whoever waits.

`filelock` takes an OS lock (flock on POSIX, LockFileEx on Windows) that the system drops when
its holder dies, so a killed ingest or eval never leaves a stale lock. The lock file itself is
truncated by each attempt to take it, so who holds it is written to a small side file
(`<lock>.holder`) once the lock is ours, and removed before the lock is let go.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from promptkit.errors import UserError


class Busy(UserError):
    """Another process holds the lock on this thing."""

    def __init__(self, message: str, *, holder: dict | None = None, hint: str | None = None):
        self.holder = holder or {}
        super().__init__(message, hint=hint)


def describe_holder(holder: dict) -> str:
    """`pid 123 on host, since 2026-12-01T10:00:00+00:00: promptkit eval run c.yaml`."""
    if not holder.get("pid"):
        return "a process that has not said who it is yet"
    text = f"pid {holder['pid']}"
    if holder.get("host") and holder["host"] != socket.gethostname():
        text += f" on {holder['host']}"
    if holder.get("since"):
        text += f", since {holder['since']}"
    if holder.get("command"):
        text += f": {holder['command']}"
    return text


def _holder_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".holder")


def read_holder(lock_path: Path) -> dict:
    try:
        data = json.loads(_holder_path(lock_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]]
    text = " ".join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


@contextmanager
def exclusive(lock_path: Path, *, busy: type[Busy] = Busy, what: str,
              hint: str | None = None) -> Iterator[None]:
    """Hold `lock_path` for the block, or raise `busy` at once naming the current holder.

    The error reads "`what` another process (pid N ...)", e.g. what="collection 'demo' is
    being written by".
    """
    from filelock import FileLock, Timeout

    lock_path = Path(lock_path)
    # A fresh lock object (its own open file) per call: two users in one process exclude each
    # other just as two processes do.
    lock = FileLock(str(lock_path))
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        holder = read_holder(lock_path)
        raise busy(f"{what} another process ({describe_holder(holder)})",
                   holder=holder, hint=hint) from None
    except OSError as exc:   # e.g. --run-dir names a file, or a folder we may not write
        raise UserError(f"cannot lock {lock_path.parent}: {exc.strerror or exc}",
                        hint="Give a folder this user can create and write.") from None
    holder_file = _holder_path(lock_path)
    try:
        holder_file.write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"), "command": _command(),
        }) + "\n", encoding="utf-8")
        yield
    finally:
        # Removed while still locked: the next holder's file is never the one deleted.
        holder_file.unlink(missing_ok=True)
        lock.release()
