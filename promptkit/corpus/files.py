"""Which files an ingest covers: explicit files, folders walked recursively, globs."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from promptkit.corpus.documents import Skip
from promptkit.corpus.loaders import LOADERS


@dataclass(frozen=True)
class FileList:
    files: list[Path]          # absolute, sorted within each root, no duplicates
    skipped: list[Skip]
    roots: list[Path]          # the absolute paths asked for (files or folders)


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pat in patterns:
        # "**/" may stand for no folder at all, as in most glob dialects.
        variants = {pat, pat.replace("**/", "")}
        if any(fnmatch.fnmatch(rel, v) for v in variants):
            return True
        if "/" not in pat and fnmatch.fnmatch(name, pat):
            return True
    return False


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        # Hidden folders (.git, .venv, .promptkit) are never a corpus.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def list_files(paths: Sequence[str | Path], include: Sequence[str] = (),
               exclude: Sequence[str] = ()) -> FileList:
    """Expand `paths` into the files to ingest, with a reason for each one left out."""
    files: list[Path] = []
    skipped: list[Skip] = []
    roots: list[Path] = []
    seen: set[Path] = set()

    def consider(path: Path, rel: str, explicit: bool) -> None:
        if path in seen:
            return
        seen.add(path)
        if include and not _matches(rel, include) and not explicit:
            return   # outside the include globs: not part of this corpus, nothing to report
        if exclude and _matches(rel, exclude):
            return
        special = special_file(path)
        if special:
            skipped.append(Skip(str(path), special))
            return
        if path.suffix.lower() not in LOADERS:
            kind = path.suffix.lower() or "(no extension)"
            skipped.append(Skip(str(path), f"unsupported file type {kind}; supported: "
                                           + " ".join(sorted(LOADERS))))
            return
        files.append(path)

    for raw in paths:
        path = Path(raw).expanduser().resolve()
        roots.append(path)
        if path.is_dir():
            for file in _walk(path):
                consider(file, file.relative_to(path).as_posix(), explicit=False)
        elif path.exists():
            consider(path, path.name, explicit=True)
        else:
            skipped.append(Skip(str(path), "does not exist"))
    return FileList(files, skipped, roots)


_SPECIAL = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
            (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def special_file(path: Path) -> str | None:
    """Why `path` cannot be read as a document, if it is not a regular file; else None.

    Reading a FIFO blocks until something writes to it, and a device may never end: such
    files are listed as skipped without being opened.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"   # e.g. a symlink to nothing
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _SPECIAL if test(mode)), "not a regular file")
    return f"{kind}, not a regular file: skipped without reading it"


def missing_paths(paths: Sequence[str | Path]) -> list[str]:
    """The paths asked for that do not exist (a typo, most likely)."""
    return [str(p) for p in paths if not Path(p).expanduser().exists()]


def under(file: str, roots: Sequence[Path]) -> bool:
    """Is `file` one of `roots` or inside one of them?"""
    p = Path(file)
    return any(p == r or r in p.parents for r in roots)
