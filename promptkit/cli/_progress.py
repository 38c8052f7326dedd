"""The one progress bar of long commands (eval run, experiment run, judge-check, synth)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Bar:
    """What a command does with its bar: move it, and print a line above it."""

    _progress: Any
    _task: Any

    def update(self, done: int, total: int | None, *, label: str | None = None,
               note: str = "") -> None:
        fields = {} if label is None else {"description": label}
        self._progress.update(self._task, completed=done, total=total, note=note, **fields)

    def say(self, message: str) -> None:
        self._progress.console.print(message, markup=False)


@contextmanager
def progress_bar(label: str, *, enabled: bool = True) -> Iterator[Bar]:
    """A bar on stderr: label, bar, done/total, elapsed, eta and a note; gone when disabled."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("eta"),
                        TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                        console=Console(stderr=True, highlight=False), transient=False,
                        disable=not enabled)
    task = progress.add_task(label, total=None, note="")
    with progress:
        yield Bar(progress, task)
