"""promptkit: versioned prompts, RAG over Chroma, and evaluation with statistics.

Public names are imported on first use, so `import promptkit` (and the CLI) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> module that defines it; other areas add their entry points here.
_LAZY = {
    "load_prompt": "promptkit.prompts",
    "PromptRegistry": "promptkit.prompts",
    "PromptSpec": "promptkit.prompts",
    "Pipeline": "promptkit.pipeline",
    "Answer": "promptkit.pipeline",
    "ask": "promptkit.pipeline",
    "get_model": "promptkit.llm",
    "GenParams": "promptkit.llm",
    "run_experiment": "promptkit.experiments",
    "open_collection": "promptkit.store",
    "get_embedder": "promptkit.embedders",
    "evaluate": "promptkit.evaluation.api",
    "compare": "promptkit.evaluation.api",
    "report": "promptkit.evaluation.api",
    "PromptkitError": "promptkit.errors",
    "UserError": "promptkit.errors",
    "BackendError": "promptkit.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'promptkit' has no attribute '{name}'")
    value = getattr(import_module(module), name)
    globals()[name] = value   # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = list(_LAZY)
