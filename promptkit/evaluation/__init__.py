"""Evaluation: datasets, metrics, runs, statistics, reports.

Kept import-light on purpose: the CLI imports this package, so nothing heavy (scipy,
matplotlib, rouge-score, models) may load here; submodules import those inside functions.
"""

from importlib import import_module

# name -> submodule; resolved on first access so `import promptkit.evaluation` stays cheap.
_LAZY = {
    "evaluate": "api", "compare": "api", "report": "api",
    "run_eval": "runner", "RunResult": "runner",
    "load_dataset": "datasets", "Case": "datasets", "Dataset": "datasets",
    "load_config": "config", "EvalConfig": "config",
    "compare_runs": "comparison", "load_run": "comparison",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"promptkit.evaluation.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'promptkit.evaluation' has no attribute '{name}'")


__all__ = sorted(_LAZY)
