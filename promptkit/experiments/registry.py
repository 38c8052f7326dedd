"""Experiment kinds by name (the table is `config.KINDS`): one module each, imported when used.

A kind module provides:
- `build(ctx) -> Plan`: the cells (datasets + how to ask) and facts the analysis needs;
- `contrasts(cfg, cells) -> [(base label, cell label)]`: the paired tests its analysis makes
  (cells as the manifest describes them), which `experiment run --plan` sizes too;
- `analyse(cfg, runs, info) -> dict`: kind-specific results from the finished cell runs;
- `plot(summary, path) -> None`: the figure (matplotlib, imported inside);
- `markdown(summary) -> str`: the kind's section of the report.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from promptkit.errors import NotFoundError


def get_kind(name: str) -> ModuleType:
    from promptkit.experiments.config import KINDS

    if name not in KINDS:
        raise NotFoundError("experiment kind", name, KINDS)
    return import_module(KINDS[name].module)
