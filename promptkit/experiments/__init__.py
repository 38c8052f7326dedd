"""Context-length and prompt-kind experiments, each a config that expands into harness runs.

    from promptkit.experiments import run_experiment
    result = run_experiment("eval/experiments/position-litm.yaml", limit=20)
    print(result.report_path)

Kinds: position (Lost in the Middle), needle (needle in a haystack), k-sweep, ordering,
prompt-kinds (zero-/few-shot and personas against a control), kv (synthetic key-value lookup).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "run_experiment": "promptkit.experiments.runner",
    "reanalyse": "promptkit.experiments.runner",
    "analyse": "promptkit.experiments.runner",
    "resolve_experiment": "promptkit.experiments.runner",
    "ExperimentResult": "promptkit.experiments.runner",
    "load_experiment": "promptkit.experiments.config",
    "experiment_from_dict": "promptkit.experiments.config",
    "ExperimentConfig": "promptkit.experiments.config",
    "KINDS": "promptkit.experiments.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'promptkit.experiments' has no attribute '{name}'")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = list(_LAZY)
