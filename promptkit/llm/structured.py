"""Structured replies: a JSON Schema in, a parsed and validated object (or a reason) out.

Where the backend can (`ChatModel.can_constrain`), decoding itself is held to the schema: a
llama.cpp grammar, OpenAI's `response_format: json_schema`, Ollama's `format`. The reply is
parsed and validated either way, because a constrained reply can still be cut short by
`max_tokens`, and a grammar does not enforce every keyword (formats, some patterns). A reply
that does not fit is outcome "unparsable" with the reason — its own category, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptkit.errors import UserError
from promptkit.safeparse import loads_json, raw_decode

if TYPE_CHECKING:
    from promptkit.llm.base import Generation

OK, UNPARSABLE = "ok", "unparsable"
RAW_KEEP = 500   # characters of a reply kept with an unparsable result, for diagnosis


@dataclass
class Structured:
    """A structured reply: `value` when outcome is "ok", else None and the `reason`."""

    value: Any
    outcome: str = OK
    reason: str = ""
    text: str = ""                 # the raw reply
    constrained: bool = False      # decoding was held to the schema
    generation: Generation | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    def describe(self) -> dict:
        """What a trace or a metric's detail records about it."""
        out = {"outcome": self.outcome, "constrained": self.constrained}
        if not self.ok:
            out["reason"] = self.reason
            out["raw"] = self.text[:RAW_KEEP]
        return out


def schema_of(schema: dict | type) -> tuple[dict, type | None]:
    """(JSON Schema dict, pydantic model class or None) for a dict or a pydantic model class."""
    if isinstance(schema, dict):
        return schema, None
    json_schema = getattr(schema, "model_json_schema", None)
    if json_schema is None:
        raise UserError(f"a structured reply needs a JSON Schema dict or a pydantic model "
                        f"class, got {type(schema).__name__}")
    return json_schema(), schema


def check_schema(schema: Any) -> None:
    """Raise UserError when `schema` is not valid JSON Schema (checked by its metaschema)."""
    if not isinstance(schema, dict):
        raise UserError(f"an output schema must be a JSON Schema object, got "
                        f"{type(schema).__name__}")
    validator = _validator_class(schema)
    import jsonschema

    try:
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise UserError(f"the output schema is not valid JSON Schema at {where}: "
                        f"{exc.message}") from None


def _validator_class(schema: dict):
    import jsonschema  # a core dependency, imported only when a schema is used

    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)


def validation_error(value: Any, schema: dict) -> str | None:
    """Why `value` does not follow `schema` (the first problem, with its place), or None."""
    validator = _validator_class(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
    return f"does not follow the schema at {where}: {first.message}"[:300]


def json_values(text: str) -> list[Any]:
    """Every JSON object or array embedded in `text`, in order (fences and chatter skipped)."""
    decoder, found, pos = json.JSONDecoder(), [], _next_open(text, 0)
    while pos != -1:
        try:
            obj, end = raw_decode(decoder, text, pos)
        except json.JSONDecodeError:
            pos = _next_open(text, pos + 1)
            continue
        found.append(obj)
        pos = _next_open(text, end)
    return found


def _next_open(text: str, start: int) -> int:
    positions = [p for p in (text.find("{", start), text.find("[", start)) if p != -1]
    return min(positions) if positions else -1


def parse_reply(gen: Generation, schema: dict, *, constrained: bool,
                model_class: type | None = None) -> Structured:
    """Parse and validate one reply. Constrained replies must be exactly one JSON value; free
    text may wrap it in prose or code fences, and the first embedded value that validates wins."""
    text = gen.text or ""

    def bad(reason: str) -> Structured:
        if gen.finish_reason == "length":
            reason += " (the reply was cut at max_tokens; raise it)"
        return Structured(None, UNPARSABLE, reason, text, constrained, gen)

    if constrained:
        try:
            candidates = [loads_json(text)]
        except json.JSONDecodeError as exc:
            return bad(f"the constrained reply is not JSON: {exc.msg} at column {exc.colno}")
    else:
        candidates = json_values(text)
        if not candidates:
            return bad("no JSON object in the reply")
    first_error = None
    for value in candidates:
        problem = validation_error(value, schema)
        if problem is None:
            if model_class is not None:
                value = model_class.model_validate(value)
            return Structured(value, OK, "", text, constrained, gen)
        first_error = first_error or problem
    return bad(f"the reply {first_error}")


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict structured outputs accept `schema`: every object lists all its
    properties as required and sets additionalProperties to false."""
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if (schema.get("additionalProperties") is not False
                or set(schema.get("required") or []) != set(props)):
            return False
    children = [*(schema.get("properties") or {}).values(),
                *(schema.get("$defs") or {}).values(), *(schema.get("definitions") or {}).values()]
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        children += schema.get(key) or []
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    return all(strict_compatible(c) for c in children)


__all__ = ["OK", "UNPARSABLE", "Structured", "check_schema", "json_values", "parse_reply",
           "schema_of", "strict_compatible", "validation_error"]
