"""Where promptkit keeps its state: one place, overridable by PROMPTKIT_HOME."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Source checkout layout: prompts/, corpora/, eval/ sit beside the package.
PROJECT_ROOT = PACKAGE_DIR.parent


def home() -> Path:
    """State folder (Chroma store, cache, runs): $PROMPTKIT_HOME or ./.promptkit."""
    env = os.environ.get("PROMPTKIT_HOME")
    return Path(env).expanduser() if env else Path.cwd() / ".promptkit"


def prompts_dir() -> Path:
    """Prompt templates: $PROMPTKIT_PROMPTS, else ./prompts if present, else the project's own."""
    env = os.environ.get("PROMPTKIT_PROMPTS")
    if env:
        return Path(env).expanduser()
    local = Path.cwd() / "prompts"
    return local if local.is_dir() else PROJECT_ROOT / "prompts"


def demo_corpus_dir() -> Path:
    return PROJECT_ROOT / "corpora" / "demo"
