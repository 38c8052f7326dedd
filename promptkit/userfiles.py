"""Files users write (prompts, eval configs, suites, experiments): YAML in, `ConfigError` out.

Every failure names the file, the line and the field, says what is allowed there, and never
shows pydantic's own error text.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from promptkit.errors import ConfigError
from promptkit.safeparse import TOO_DEEP


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
        raise ConfigError(TOO_DEEP, path=str(path),
                          hint="No promptkit file needs more than a few levels; "
                               "check that the file is the one you meant.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of keys at the top level, "
                          f"got {type(data).__name__}", path=str(path), hint=hint)
    return text, data


@dataclass(frozen=True)
class Tagged:
    """Mappings told apart by a tag key (a pydantic discriminated union), e.g. a suite's
    assertions by `type`: how errors about them are worded."""

    key: str                    # "type"
    noun: str                   # "assertion"
    values: tuple[str, ...]     # every tag the union accepts


def validate(model: type[BaseModel], data: dict, *, path: str | Path | None = None,
             text: str | None = None, hint: str | None = None, **wording):
    """`model.model_validate(data)`, with a failure turned into a `ConfigError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise translate(exc, model, path=path, text=text, hint=hint, data=data,
                        **wording) from None


def translate(exc: ValidationError, model: type[BaseModel], *, path: str | Path | None = None,
              text: str | None = None, hint: str | None = None, data: Any = None,
              tagged: Tagged | None = None, prefix: Callable[[tuple], str] | None = None,
              max_also: int | None = None) -> ConfigError:
    """The first problem as the message; any others (up to `max_also`) listed in the hint.

    `data` (what was validated) lets an unknown key inside a tagged mapping list the keys of
    that mapping's own kind; `prefix(location)` names what a location belongs to (a suite's
    "case 'refunds': ").
    """
    named = prefix or (lambda _loc: "")
    problems = [_describe(err, model, text, data, tagged) for err in exc.errors()]
    loc, line, message = problems[0]
    shown = problems[1:] if max_also is None else problems[1:1 + max_also]
    rest = [f"  also: {'line ' + str(ln) + ', ' if ln else ''}{named(where)}"
            f"field '{field_path(where)}': {m}" for where, ln, m in shown]
    if len(shown) < len(problems) - 1:
        rest.append(f"  ... and {len(problems) - 1 - len(shown)} more")
    return ConfigError(named(loc) + message, path=None if path is None else str(path),
                       field=field_path(loc) or None, line=line,
                       hint="\n".join([*rest, *([hint] if hint else [])]) or None)


def _describe(err: dict, model: type[BaseModel], text: str | None, data: Any,
              tagged: Tagged | None) -> tuple[tuple, int | None, str]:
    loc = _clean(tuple(err["loc"]), model, tagged)
    kind = err["type"]
    ctx = err.get("ctx") or {}
    error = ctx.get("error")
    if isinstance(getattr(error, "field", None), str):   # a cross-field check naming its field
        loc = parse_field(error.field.split(" ", 1)[0])
        message = str(error)
    elif kind == "extra_forbidden":
        message = _unknown_key(model, loc, data, tagged)
    elif kind == "missing":
        # Point at the mapping that lacks it, which is what exists in the file.
        return loc, line_of(text, loc[:-1]) or 1, "required key is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found") and tagged is not None:
        tag = ctx.get("tag", "")
        close = difflib.get_close_matches(str(tag), tagged.values, n=1)
        what = (f"unknown {tagged.noun} {tagged.key} '{tag}'"
                + (f" (did you mean '{close[0]}'?)" if close else "")) if tag \
            else f"the {tagged.noun} has no '{tagged.key}'"
        loc = (*loc, tagged.key)
        message = f"{what}; {tagged.key}s: {', '.join(tagged.values)}"
    else:
        message = err["msg"].removeprefix("Value error, ")
        message = message.replace("Input should", "should", 1)
        if "input" in err and not isinstance(err["input"], dict | list):
            message += f" (got {type(err['input']).__name__} {_short(err['input'])})"
    return loc, line_of(text, loc), message


def _clean(loc: tuple, model: type[BaseModel], tagged: Tagged | None) -> tuple:
    """The location as the file has it: pydantic adds the union member it tried (a model's
    class name, or the tag of a tagged mapping after its list index); drop those."""
    names = _model_names(model)
    out: list = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in names:
            continue
        if tagged is not None and i and isinstance(loc[i - 1], int) and part in tagged.values:
            continue
        out.append(part)
    return tuple(out)


def _model_names(model: type[BaseModel], seen: set | None = None) -> set[str]:
    seen = set() if seen is None else seen
    if model.__name__ in seen:
        return seen
    seen.add(model.__name__)
    for info in model.model_fields.values():
        for inner in _models_in(info.annotation):
            _model_names(inner, seen)
    return seen


def _unknown_key(model: type[BaseModel], loc: tuple, data: Any, tagged: Tagged | None) -> str:
    allowed = _allowed_keys(model, loc[:-1], data, tagged)
    key = str(loc[-1])
    msg = f"unknown key '{key}'"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        msg += f" (did you mean '{close[0]}'?)"
    if allowed:
        msg += "; allowed keys here: " + ", ".join(allowed)
    return msg


def _allowed_keys(model: type[BaseModel], loc: tuple, data: Any,
                  tagged: Tagged | None) -> list[str]:
    """Keys of the (nested) model at `loc` as the file spells them; [] where it is not one."""
    annotation: Any = model
    node = data
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        current = _pick(annotation, node, tagged)
        info = _field(current, str(part)) if current is not None else None
        if info is None:
            return []
        annotation = info.annotation
        node = node.get(str(part)) if isinstance(node, dict) else None
    current = _pick(annotation, node, tagged)
    if current is None:
        return []
    return [info.alias or name for name, info in current.model_fields.items()]


def _field(model: type[BaseModel], key: str):
    return model.model_fields.get(key) or next(
        (info for info in model.model_fields.values() if info.alias == key), None)


def _pick(annotation: Any, node: Any, tagged: Tagged | None) -> type[BaseModel] | None:
    """The model an annotation holds; of a tagged union, the member the mapping's tag names."""
    models = _models_in(annotation)
    if len(models) > 1 and tagged is not None and isinstance(node, dict):
        for m in models:
            info = m.model_fields.get(tagged.key)
            if info is not None and node.get(tagged.key) in typing.get_args(info.annotation):
                return m
    return models[0] if models else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models inside an annotation (Model, list[Model], A | B, Annotated[...]), in order."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += [m for m in _models_in(arg) if m not in out]
    return out


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
