"""Read one prompt file into a `PromptSpec`; every failure becomes a `ConfigError` with file,
line and field (pydantic's own error text never reaches the user)."""

from __future__ import annotations

from pathlib import Path

from promptkit.errors import ConfigError
from promptkit.prompts.spec import PromptSpec
from promptkit.userfiles import line_of, validate
from promptkit.userfiles import read_yaml as _read_yaml

FORMAT_HINT = ("Every key is described in docs/tasks/prompts.md ('Prompt file format'); "
               "`promptkit schema prompt` prints the JSON Schema for editors.")


def read_yaml(path: Path) -> tuple[str, dict]:
    """The file's text and its top-level mapping."""
    return _read_yaml(path, hint=FORMAT_HINT)


def load_spec(path: Path, *, expect_name: str | None = None,
              expect_version: int | None = None) -> PromptSpec:
    """Validate `path`; optionally check that `name`/`version` match its place on disk."""
    text, data = read_yaml(path)
    spec = validate(PromptSpec, data, path=path, text=text, hint=FORMAT_HINT)
    if expect_name is not None and spec.name != expect_name:
        raise ConfigError(f"is '{spec.name}' but the file lives in folder '{expect_name}'",
                          path=str(path), field="name", line=line_of(text, ("name",)),
                          hint="Make the name match its folder: prompts/<name>/v<N>.yaml.")
    if expect_version is not None and spec.version != expect_version:
        raise ConfigError(f"is {spec.version} but the file is named v{expect_version}.yaml",
                          path=str(path), field="version", line=line_of(text, ("version",)),
                          hint="Make the version match the file name.")
    spec._source = data
    spec._path = path
    return spec
