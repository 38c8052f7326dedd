"""Where promptkit keeps its state and finds the files it ships.

State: one folder, $PROMPTKIT_HOME or ./.promptkit. Shipped files (the prompt library and the
demo corpus): in a clone they are `prompts/` and `corpora/demo/` at the repository root, the
source of truth; a wheel carries the same files as package data under `promptkit/_data/`
(mapped there at build time by pyproject.toml, so git holds one copy).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Source checkout layout: prompts/, corpora/, eval/ sit beside the package.
PROJECT_ROOT = PACKAGE_DIR.parent
DATA_DIR = PACKAGE_DIR / "_data"      # only in an installed wheel


def home() -> Path:
    """State folder (Chroma store, cache, runs): $PROMPTKIT_HOME or ./.promptkit."""
    env = os.environ.get("PROMPTKIT_HOME")
    return Path(env).expanduser() if env else Path.cwd() / ".promptkit"


def _shipped(wheel_path: Path, clone_path: Path) -> Path:
    return wheel_path if wheel_path.is_dir() else clone_path


def shipped_prompts_dir() -> Path:
    """The prompt library that comes with promptkit (rag-answer, judges, ...)."""
    return _shipped(DATA_DIR / "prompts", PROJECT_ROOT / "prompts")


def user_prompts_dir() -> Path | None:
    """The project's own prompts: $PROMPTKIT_PROMPTS, else ./prompts if it exists."""
    env = os.environ.get("PROMPTKIT_PROMPTS")
    if env:
        return Path(env).expanduser()
    local = Path.cwd() / "prompts"
    return local if local.is_dir() else None


def prompts_dir() -> Path:
    """The folder prompts are written to and checked: the user's; else, in a clone, the
    repository's own; else (installed) ./prompts, made by `promptkit prompts new` — never the
    package's own folder inside site-packages."""
    user = user_prompts_dir()
    if user is not None:
        return user
    return Path.cwd() / "prompts" if DATA_DIR.is_dir() else PROJECT_ROOT / "prompts"


def demo_corpus_dir() -> Path:
    return _shipped(DATA_DIR / "demo", PROJECT_ROOT / "corpora" / "demo")


def demo_vectors_dir() -> Path:
    """Vectors of the demo corpus's chunks, one file per embedder (scripts/demo_vectors.py)."""
    return _shipped(DATA_DIR / "vectors", PROJECT_ROOT / "corpora" / "vectors")
