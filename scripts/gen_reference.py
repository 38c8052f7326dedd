"""Regenerate what the documentation and editors read from the code itself.

    python scripts/gen_reference.py          # write the files
    python scripts/gen_reference.py --check  # exit 1 and name the stale files (the tests do this)

Writes the JSON Schemas of the files users write (promptkit/schemas/*.schema.json, from the
pydantic models), the CLI reference (docs/reference/cli.md, from the typer app) and the module
dependency list of the architecture page (docs/concepts/dependencies.md, from the imports).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def outputs() -> dict[Path, str]:
    """Every generated file and the text it should hold."""
    from docgen_cli import cli_reference
    from docgen_deps import dependencies_page

    from promptkit import schemas

    files = {info.path: schemas.render(schemas.build(name))
             for name, info in schemas.SCHEMAS.items()}
    files[ROOT / "docs" / "reference" / "cli.md"] = cli_reference()
    files[ROOT / "docs" / "concepts" / "dependencies.md"] = dependencies_page(ROOT / "promptkit")
    return files


def stale(files: dict[Path, str]) -> list[Path]:
    return [path for path, text in files.items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report files that are stale")
    args = ap.parse_args()
    files = outputs()
    old = stale(files)
    if args.check:
        for path in old:
            print(f"stale: {path.relative_to(ROOT)}")
        if old:
            print("Regenerate with: python scripts/gen_reference.py")
        return 1 if old else 0
    for path in old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
