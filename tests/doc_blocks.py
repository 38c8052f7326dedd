"""Fenced code blocks of the README files and the docs site, with their run markers.

A block runs unless the line before it (blank lines aside) is `<!-- not-run: reason -->`;
a Python block after `<!-- run-as: pytest -->` is a test module, run by pytest; a YAML block
preceded by `<!-- schema: NAME -->` is validated against that JSON Schema.
`python tests/doc_blocks.py` prints what would run, what would not and why.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELL = {"bash", "sh", "shell"}
PYTHON = {"python", "py"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>not-run|schema|run-as):\s*(?P<value>.*?)\s*-->\s*$")


@dataclass
class Block:
    path: Path
    line: int            # 1-based line of the opening fence
    lang: str
    code: str
    not_run: str | None = None
    schema: str | None = None
    run_as: str | None = None   # "pytest": the block is a test module

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.lang in SHELL | PYTHON and self.not_run is None


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "README.es.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [f for f in files if f.is_file()]


def blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = len(m["indent"]), m["fence"]
        lang = (m["info"].strip().split() or [""])[0].lower()
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence)
                                      and set(lines[j].strip()) == {fence[0]}):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        block = Block(path, i + 1, lang, "\n".join(body) + "\n")
        _apply_marker(block, lines, i)
        out.append(block)
        i = j + 1
    return out


def _apply_marker(block: Block, lines: list[str], fence_index: int) -> None:
    k = fence_index - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    m = MARKER.match(lines[k]) if k >= 0 else None
    if not m:
        return
    if m["kind"] == "not-run":
        block.not_run = m["value"]
    elif m["kind"] == "run-as":
        block.run_as = m["value"]
    else:
        block.schema = m["value"]


def all_blocks() -> list[Block]:
    return [b for path in doc_files() for b in blocks(path)]


def main() -> None:
    found = all_blocks()
    runnable = [b for b in found if b.lang in SHELL | PYTHON]
    run = [b for b in runnable if b.runs]
    skipped = [b for b in runnable if not b.runs]
    schema = [b for b in found if b.schema]
    print(f"{len(runnable)} shell/Python examples: {len(run)} run by the tests, "
          f"{len(skipped)} marked not-run; {len(schema)} YAML examples validated by schema")
    by_file: dict[str, int] = {}
    for b in run:
        key = str(b.path.relative_to(ROOT))
        by_file[key] = by_file.get(key, 0) + 1
    for key, n in by_file.items():
        print(f"  {n:3d} run  {key}")
    for b in skipped:
        print(f"  not-run {b.where}: {b.not_run}")
    if "--list" in sys.argv:
        for b in run:
            print(f"  run {b.where} ({b.lang})")


if __name__ == "__main__":
    main()
