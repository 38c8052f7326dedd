"""Versioned prompt templates: `PromptSpec`, `PromptRegistry` and `load_prompt`."""

from __future__ import annotations

from pathlib import Path

from promptkit.prompts.lock import LockReport
from promptkit.prompts.registry import PromptRegistry, parse_ref
from promptkit.prompts.spec import Example, ExampleSelection, Params, PromptSpec


def load_prompt(ref: str, root: Path | str | None = None) -> PromptSpec:
    """Load `name`, `name@3` or `name@label` from `root` (default: the prompts folder)."""
    return PromptRegistry(root).load(ref)


__all__ = ["Example", "ExampleSelection", "LockReport", "Params", "PromptRegistry", "PromptSpec",
           "load_prompt", "parse_ref"]
