"""JSON and YAML that come from outside (users' files, command-line values, model replies).

Text nested deeper than Python's parser can follow is malformed input like any other: it is
raised as the parser's own error (`json.JSONDecodeError`, `yaml.YAMLError`), so every caller's
bad-input path handles it, never as a `RecursionError` that would surface as a crash.
"""

from __future__ import annotations

import json
from typing import Any

TOO_DEEP = ("nested too deeply to read (lists or mappings inside each other hundreds of "
            "levels down)")


def loads_json(text: str | bytes) -> Any:
    """`json.loads`, with too-deep nesting raised as a `json.JSONDecodeError`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, text if isinstance(text, str) else "", 0) from None


def raw_decode(decoder: json.JSONDecoder, text: str, pos: int) -> tuple[Any, int]:
    """`decoder.raw_decode(text, pos)`, with too-deep nesting raised as a `JSONDecodeError`."""
    try:
        return decoder.raw_decode(text, pos)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, text, pos) from None


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, with too-deep nesting raised as a `yaml.YAMLError`."""
    import yaml

    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise yaml.YAMLError(TOO_DEEP) from None
