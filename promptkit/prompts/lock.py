"""The lock file: content hashes of released prompt versions (`prompts/prompts.lock`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from promptkit.errors import ConfigError, LockError
from promptkit.safeparse import loads_json

LOCK_NAME = "prompts.lock"
_FORMAT = 1


def read_lock(path: Path) -> dict[str, str]:
    """`{"name@N": "sha256:..."}`; empty when the file does not exist yet."""
    if not path.exists():
        return {}
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"lock file is not valid JSON: {exc.msg}", path=str(path),
                          line=exc.lineno, hint="Restore it from version control.") from None
    locked = data.get("locked") if isinstance(data, dict) else None
    if not isinstance(locked, dict) or not all(isinstance(v, str) for v in locked.values()):
        raise ConfigError('expected {"format": 1, "locked": {"name@N": "sha256:..."}}',
                          path=str(path), field="locked",
                          hint="Restore it from version control.")
    return dict(locked)


def write_lock(path: Path, locked: dict[str, str]) -> None:
    data = {"format": _FORMAT,
            "note": "Content hashes of released prompt versions. Written by "
                    "`promptkit prompts check --lock`; do not edit by hand.",
            "locked": dict(sorted(locked.items(), key=lambda kv: _ref_key(kv[0])))}
    tmp = path.with_suffix(".lock.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())   # the bytes are on disk before the name points at them
    os.replace(tmp, path)       # atomic: an interrupted write never leaves half a lock file
    _fsync_folder(path.parent)  # and the rename itself survives a power cut


def _fsync_folder(folder: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):   # Windows cannot open a folder; NTFS journals renames
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ref_key(ref: str) -> tuple[str, int]:
    name, _, version = ref.rpartition("@")
    return (name, int(version) if version.isdigit() else 0)


@dataclass
class Modified:
    ref: str
    path: Path
    locked_hash: str
    current_hash: str


@dataclass
class LockReport:
    """How the prompt files compare with the lock file."""

    ok: list[str] = field(default_factory=list)
    unlocked: list[tuple[str, Path]] = field(default_factory=list)
    modified: list[Modified] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def problems(self) -> bool:
        return bool(self.modified or self.missing)

    def as_dict(self) -> dict:
        return {"ok": self.ok,
                "unlocked": [ref for ref, _ in self.unlocked],
                "modified": [{"ref": m.ref, "path": str(m.path), "locked_hash": m.locked_hash,
                              "current_hash": m.current_hash} for m in self.modified],
                "missing": self.missing,
                "passed": not self.problems}

    def raise_for_problems(self, lock_path: Path) -> None:
        if not self.problems:
            return
        lines = [f"{m.path}: released version {m.ref} was edited after it was locked"
                 for m in self.modified]
        lines += [f"{ref}: locked in {lock_path} but its file is gone" for ref in self.missing]
        names = sorted({m.ref.rpartition("@")[0] for m in self.modified})
        steps = ["Released prompt versions are immutable, so results stay reproducible."]
        if self.modified:
            files = " ".join(str(m.path) for m in self.modified)
            steps.append(f"Undo the edit (e.g. `git checkout -- {files}`), then put the change "
                         "in a new version: "
                         + "; ".join(f"`promptkit prompts new {n}`" for n in names)
                         + ", edit it, and release it with `promptkit prompts check --lock`.")
        if self.missing:
            steps.append("Restore the deleted file(s) from version control.")
        raise LockError("\n".join(lines), hint="\n".join(steps))
