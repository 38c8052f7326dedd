"""The template syntax: Python `str.format` fields restricted to plain `{name}`.

`{{` and `}}` stand for literal braces. Attribute/index access (`{a.b}`, `{a[0]}`),
positional fields (`{}`), conversions (`{x!r}`) and format specs (`{x:>5}`) are rejected when
the file is loaded: they are rarely meant in prose and LangChain's f-string templates, which
`to_langchain()` produces, would not render them the same way.
"""

from __future__ import annotations

import string

_FORMATTER = string.Formatter()


def template_variables(text: str) -> set[str]:
    """Names of the `{fields}` in `text`; ValueError (with a reason) if the syntax is not ours."""
    names: set[str] = set()
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ValueError(f"bad braces in template ({exc}); write literal braces as {{{{ and }}}}") \
            from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "":
            raise ValueError("empty field {} in template: name the variable, e.g. {question}")
        if not field.isidentifier():
            raise ValueError(f"field {{{field}}} is not a plain variable name "
                             "(no dots, indexes or numbers); write literal braces as {{ and }}")
        if conversion or spec:
            raise ValueError(f"field {{{field}}} uses a conversion or format spec; "
                             "only plain {name} fields are supported")
        names.add(field)
    return names


def fill(text: str, values: dict[str, object]) -> str:
    """Substitute `values` (already checked to match the template's variables)."""
    return text.format_map({k: str(v) for k, v in values.items()})


def escape(text: str) -> str:
    """Make literal text safe to embed in a template (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")
