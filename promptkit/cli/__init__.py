"""promptkit's command line: thin commands over the library.

Each command module registers itself on the apps in `_app`; importing them must stay cheap
(no torch, sentence-transformers, chromadb or llama.cpp at import time).
"""

from __future__ import annotations

import sys
from importlib import import_module

from promptkit.cli._app import app, run

# Command modules, each owning one area; importing registers their commands.
_COMMAND_MODULES = (
    "prompts_cmd",
    "retrieval_cmd",
    "ask_cmd",
    "eval_cmd",
    "eval_data_cmd",
    "experiment_cmd",
    "test_cmd",
    "schema_cmd",
    "doctor_cmd",
)

for _name in _COMMAND_MODULES:
    import_module(f"promptkit.cli.{_name}")


def main() -> None:
    sys.exit(run(sys.argv[1:]))


__all__ = ["app", "main", "run"]
