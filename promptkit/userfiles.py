"""Files users write (prompts, eval configs, suites, experiments): YAML in, `ConfigError` out.

Every failure names the file, the line and the field, says what is allowed there, and never
shows pydantic's own error text.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from promptkit.errors import ConfigError


class StrictModel(BaseModel):
    """Base of every model of a user file: an unknown key (a typo) is an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (PyYAML would silently keep the last one)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict | set):
                # `[a, b]: 1` or `? {x: 1}`: no file of ours has such keys (and a set of seen
                # keys cannot hold them).
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be plain text, not a {_yaml_kind(key)}",
                    key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice in the same mapping",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_kind(value: Any) -> str:
    return {list: "list", dict: "mapping", set: "set"}.get(type(value), type(value).__name__)


def read_yaml(path: Path, *, hint: str | None = None) -> tuple[str, dict]:
    """The file's text and its top-level mapping; `hint` tells where the format is described."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("file not found", path=str(path), hint=hint)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", path=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("file is not UTF-8 text", path=str(path)) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", path=str(path),
                          line=mark.line + 1 if mark else None,
                          hint="Check indentation and quoting near that line.") from None
    except RecursionError:
        raise ConfigError("nested too deeply to read (lists or mappings inside each other "
                          "hundreds of levels down)", path=str(path),
                          hint="No promptkit file needs more than a few levels; "
                               "check that the file is the one you meant.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of keys at the top level, "
                          f"got {type(data).__name__}", path=str(path), hint=hint)
    return text, data


def validate(model: type[BaseModel], data: dict, *, path: str | Path | None = None,
             text: str | None = None, hint: str | None = None):
    """`model.model_validate(data)`, with a failure turned into a `ConfigError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise translate(exc, model, path=path, text=text, hint=hint) from None


def translate(exc: ValidationError, model: type[BaseModel], *, path: str | Path | None = None,
              text: str | None = None, hint: str | None = None) -> ConfigError:
    """The first problem as the message; any others listed in the hint."""
    problems = [_describe(err, model, text) for err in exc.errors()]
    field, line, message = problems[0]
    rest = [f"  also: {'line ' + str(ln) + ', ' if ln else ''}field '{f}': {m}"
            for f, ln, m in problems[1:]]
    return ConfigError(message, path=None if path is None else str(path), field=field or None,
                       line=line, hint="\n".join([*rest, *([hint] if hint else [])]) or None)


def _describe(err: dict, model: type[BaseModel], text: str | None) -> tuple[str, int | None, str]:
    loc = tuple(err["loc"])
    kind = err["type"]
    error = (err.get("ctx") or {}).get("error")
    if isinstance(getattr(error, "field", None), str):   # a cross-field check naming its field
        loc = parse_field(error.field)
        message = str(error)
    elif kind == "extra_forbidden":
        message = _unknown_key(model, loc)
    elif kind == "missing":
        message = "required key is missing"
        # Point at the mapping that lacks it, which is what exists in the file.
        return field_path(loc), line_of(text, loc[:-1]) or 1, message
    else:
        message = err["msg"].removeprefix("Value error, ")
        message = message.replace("Input should", "should", 1)
        if "input" in err and not isinstance(err["input"], dict | list):
            message += f" (got {type(err['input']).__name__} {_short(err['input'])})"
    return field_path(loc), line_of(text, loc), message


def _unknown_key(model: type[BaseModel], loc: tuple) -> str:
    allowed = _allowed_keys(model, loc[:-1])
    key = str(loc[-1])
    msg = "unknown key"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        msg += f" (did you mean '{close[0]}'?)"
    if allowed:
        msg += "; allowed keys here: " + ", ".join(allowed)
    return msg


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (nested) model at `loc`; [] where it is not a model."""
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            return []
        model = _model_in(info.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):   # list[Example], Model | None
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_field(field: str) -> tuple:
    loc: list[Any] = []
    for piece in field.replace("[", ".[").split("."):
        if piece.startswith("["):
            loc.append(int(piece[1:-1]))
        elif piece:
            loc.append(piece)
    return tuple(loc)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def line_of(text: str | None, loc: tuple) -> int | None:
    """1-based line of the key (or list item) at `loc` in the YAML text, if it can be found."""
    if text is None:
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                return line
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
