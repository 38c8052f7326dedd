"""Experiment kinds by name: one module each, imported when its kind is used.

A kind module provides:
- `build(ctx) -> Plan`: the cells (datasets + how to ask) and facts the analysis needs;
- `analyse(cfg, runs, info) -> dict`: kind-specific results from the finished cell runs;
- `plot(summary, path) -> None`: the figure (matplotlib, imported inside);
- `markdown(summary) -> str`: the kind's section of the report.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from promptkit.errors import NotFoundError

KINDS: dict[str, str] = {
    "position": "promptkit.experiments.position",
    "needle": "promptkit.experiments.needle",
    "k-sweep": "promptkit.experiments.ksweep",
    "ordering": "promptkit.experiments.ordering",
    "prompt-kinds": "promptkit.experiments.prompt_kinds",
    "kv": "promptkit.experiments.kv",
}


def get_kind(name: str) -> ModuleType:
    if name not in KINDS:
        raise NotFoundError("experiment kind", name, KINDS)
    return import_module(KINDS[name])
