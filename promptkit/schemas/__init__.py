"""JSON Schemas for the files users write, generated from the pydantic models that read them.

The `*.schema.json` files beside this module are what editors and `promptkit schema` read;
reading them imports nothing but the standard library. `python scripts/gen_reference.py`
regenerates them from the models, and a test fails when they are out of date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class SchemaInfo:
    name: str
    model: str          # "module:Class" of the pydantic model that validates the file
    files: str          # which files it describes
    title: str

    @property
    def path(self) -> Path:
        return HERE / f"{self.name}.schema.json"


SCHEMAS = {s.name: s for s in (
    SchemaInfo("prompt", "promptkit.prompts.spec:PromptSpec",
               "prompts/<name>/v<N>.yaml", "promptkit prompt version"),
    SchemaInfo("eval-config", "promptkit.evaluation.config:EvalConfig",
               "eval/configs/*.yaml", "promptkit evaluation config"),
    SchemaInfo("experiment", "promptkit.experiments.config:ExperimentConfig",
               "eval/experiments/*.yaml", "promptkit experiment config"),
    SchemaInfo("suite", "promptkit.testing.suite:SuiteSpec",
               "eval/suites/*.yaml, *.suite.yaml", "promptkit regression suite"),
    SchemaInfo("dataset", "promptkit.evaluation.datasets:DatasetRecord",
               "each line of a dataset JSONL such as eval/datasets/demo-qa.jsonl",
               "promptkit dataset record (one JSONL line)"),
)}


def names() -> list[str]:
    return list(SCHEMAS)


def info(name: str) -> SchemaInfo:
    """The schema called `name`; an unknown name is a `NotFoundError` with a suggestion."""
    if name not in SCHEMAS:
        from promptkit.errors import NotFoundError

        raise NotFoundError("schema", name, SCHEMAS,
                            hint="List them with: promptkit schema --list")
    return SCHEMAS[name]


def text(name: str) -> str:
    """The shipped schema file's text."""
    return info(name).path.read_text(encoding="utf-8")


def load(name: str) -> dict:
    return json.loads(text(name))


def build(name: str) -> dict:
    """The schema generated now from the pydantic model (imports the model)."""
    entry = info(name)
    module, _, cls = entry.model.partition(":")
    model = getattr(import_module(module), cls)
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DRAFT, **schema, "title": entry.title,
            "$comment": f"Generated from {entry.model} by scripts/gen_reference.py; "
                        f"describes {entry.files}. Do not edit."}


def render(schema: dict) -> str:
    """The file text for a schema: stable key order, two-space indent, final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
