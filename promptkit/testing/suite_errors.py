"""Suite validation errors in the user's terms: file, line, case id and field, never pydantic's
own wording; unknown keys and assertion types come with a "did you mean"."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from promptkit.errors import ConfigError
from promptkit.testing.suite import (
    ASSERTION_TYPES,
    FORMAT_HINT,
    CaseSpec,
    CitesSpec,
    ContainsSpec,
    DefaultsSpec,
    EqualsSpec,
    GateSpec,
    JsonSpec,
    LatencySpec,
    LengthSpec,
    MetricSpec,
    ParamsSpec,
    RegexSpec,
    RetrievalSpec,
    RubricSpec,
    SimilarSpec,
    SuiteSpec,
    _Problem,
)
from promptkit.userfiles import field_path, line_of, parse_field


def translate(exc: ValidationError, path: Path, text: str, data: dict) -> ConfigError:
    problems = [_describe(err, data) for err in exc.errors()]
    loc, message = problems[0]
    rest = [f"  also: {_case_prefix(where, data)}field '{field_path(where)}': {msg}"
            for where, msg in problems[1:4]]
    if len(problems) > 4:
        rest.append(f"  ... and {len(problems) - 4} more")
    return ConfigError(_case_prefix(loc, data) + message, path=str(path),
                       field=field_path(loc) or None, line=line_of(text, loc),
                       hint="\n".join([*rest, FORMAT_HINT]))


def _describe(err: dict, data: dict) -> tuple[tuple, str]:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.endswith("Spec")))
    # A tagged-union member shows up in the location by its tag: drop that, keep real keys.
    loc = tuple(p for i, p in enumerate(loc)
                if not (i and isinstance(p, str) and p in ASSERTION_TYPES and _is_tag(loc, i)))
    error = (err.get("ctx") or {}).get("error")
    kind = err["type"]
    if isinstance(error, _Problem):
        return parse_field(error.field.split(" ", 1)[0]), str(error)
    if kind == "extra_forbidden":
        return loc, f"unknown key '{loc[-1]}'" + _did_you_mean(str(loc[-1]), err, data, loc)
    if kind == "missing":
        return loc, "required key is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = (err.get("ctx") or {}).get("tag", "")
        close = difflib.get_close_matches(str(tag), ASSERTION_TYPES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        what = f"unknown assertion type '{tag}'{hint}" if tag else "the assertion has no 'type'"
        return (*loc, "type"), f"{what}; types: {', '.join(ASSERTION_TYPES)}"
    message = err["msg"].removeprefix("Value error, ").replace("Input should", "should", 1)
    if "input" in err and not isinstance(err["input"], dict | list):
        message += f" (got {err['input']!r})"
    return loc, message


def _is_tag(loc: tuple, i: int) -> bool:
    # ("cases", 0, "assert", 1, "regex", "pattern"): "regex" follows a list index under "assert".
    return i >= 2 and isinstance(loc[i - 1], int) and loc[i - 2] == "assert"


def _did_you_mean(key: str, err: dict, data: dict, loc: tuple) -> str:
    allowed = _allowed_keys(loc[:-1], data)
    close = difflib.get_close_matches(key, allowed, n=1)
    msg = f" (did you mean '{close[0]}'?)" if close else ""
    return msg + (f"; allowed keys here: {', '.join(allowed)}" if allowed else "")


def _allowed_keys(loc: tuple, data: dict) -> list[str]:
    """Keys the mapping at `loc` may hold, following the suite's structure."""
    models: dict[tuple, type[BaseModel]] = {(): SuiteSpec, ("retrieval",): RetrievalSpec,
                                            ("params",): ParamsSpec, ("gate",): GateSpec,
                                            ("defaults",): DefaultsSpec}
    if len(loc) == 2 and loc[0] == "cases":
        model = CaseSpec
    elif len(loc) >= 2 and loc[-2] == "assert" and isinstance(loc[-1], int):
        node: Any = data
        for part in loc:
            node = node[part] if isinstance(node, dict | list) else None
        model = _assertion_model(node.get("type") if isinstance(node, dict) else None)
    else:
        model = models.get(loc)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _assertion_model(kind: str | None) -> type[BaseModel] | None:
    for model in (EqualsSpec, ContainsSpec, RegexSpec, JsonSpec, LengthSpec, SimilarSpec,
                  MetricSpec, RubricSpec, LatencySpec, CitesSpec):
        tags = model.model_fields["type"].annotation.__args__
        if kind in tags:
            return model
    return None


def _case_prefix(loc: tuple, data: dict) -> str:
    if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
        cases = data.get("cases")
        if isinstance(cases, list) and loc[1] < len(cases) and isinstance(cases[loc[1]], dict):
            case_id = cases[loc[1]].get("id")
            if case_id is not None:
                return f"case '{case_id}': "
        return f"case #{loc[1] + 1}: "
    return ""
