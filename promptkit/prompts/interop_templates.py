"""Template syntax between promptkit (`{name}`) and the `{{name}}` family (Handlebars, Jinja,
Nunjucks, Langfuse), for plain substitution only.

Control flow, filters, partials and helpers have no promptkit equivalent: importing a template
that uses one is an error naming the construct and its line, never a silent approximation.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from promptkit.errors import ConfigError, UserError

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Flavor:
    """What a format's template engine treats as a tag."""

    name: str
    jinja_tags: bool = False      # {% ... %} statements and {# ... #} comments (Jinja, Nunjucks)
    handlebars: bool = False      # {{! comments }}, {{{triple}}}, \{{ escapes
    helpers: tuple[str, ...] = ()  # bare names that are helpers, not variables


MUSTACHE = Flavor("Langfuse")
HANDLEBARS = Flavor("Handlebars (dotprompt)", handlebars=True,
                    helpers=("history", "media", "section", "json", "role", "ifEquals",
                             "unlessEquals", "this", "else"))
JINJA = Flavor("Jinja (Prompty)", jinja_tags=True)
NUNJUCKS = Flavor("Nunjucks (promptfoo)", jinja_tags=True)

_HB_TAG = re.compile(r"\\\{\{|\{\{\{(.*?)\}\}\}|\{\{(.*?)\}\}", re.S)
_JINJA_TAG = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}|\{#(.*?)#\}", re.S)
_PLAIN_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)
_BLOCKS = {"#if": "{{#if}} block", "#each": "{{#each}} loop", "#unless": "{{#unless}} block",
           "#with": "{{#with}} block", ">": "{{> partial}}", "/": "closing block tag",
           "#": "a block helper", "^": "inverted section", "@": "data variable (@root, @index)",
           "~": "whitespace control"}


@dataclass
class Where:
    """Where a piece of template text sits, for error messages."""

    path: str
    line: int | None = None
    what: str = ""
    maps_lines: bool = True      # False: the text is a JSON string, not lines of the file

    def at(self, text_before: str) -> int | None:
        """The file line of an offset into the text (its first line where lines do not map)."""
        if self.line is None or not self.maps_lines:
            return self.line
        return self.line + text_before.count("\n")


def _construct(tag: str, flavor: Flavor) -> str | None:
    """Why `tag` (the inside of {{ }}) is not a plain variable, or None if it is one."""
    body = tag.strip()
    if IDENT.match(body):
        if body in flavor.helpers:
            return f"the {{{{{body}}}}} helper"
        return None
    for prefix, what in _BLOCKS.items():
        if body.startswith(prefix) or (prefix == "~" and body.endswith("~")):
            return what
    if re.fullmatch(r"\w[\w-]*", body):
        return f"the variable name '{body}' (promptkit variables are identifiers: rename it)"
    if body.startswith("-") or body.endswith("-"):
        return "whitespace control ({{- -}})"
    if "|" in body:
        return f"a filter ({{{{ {body} }}}})"
    if "." in body or "[" in body:
        return f"attribute or index access ({{{{ {body} }}}})"
    if " " in body or "(" in body:
        return f"a helper or expression ({{{{ {body} }}}})"
    return f"the tag {{{{{body}}}}}"


def _reject(construct: str, flavor: Flavor, where: Where, before: str) -> ConfigError:
    return ConfigError(f"{where.what + ': ' if where.what else ''}uses {construct}, which "
                       f"promptkit templates cannot express (only plain {{{{variable}}}} "
                       f"substitution is imported from {flavor.name})",
                       path=where.path, line=where.at(before),
                       hint="Rewrite that part as plain text with {{variables}} (move the logic "
                            "into code that fills the variables), then import again.")


def to_promptkit(text: str, flavor: Flavor, where: Where) -> str:
    """`{{name}}` template text -> promptkit `{name}` text (literal braces doubled)."""
    pattern = _HB_TAG if flavor.handlebars else _JINJA_TAG if flavor.jinja_tags else _PLAIN_TAG
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(_escape(text[pos:m.start()]))
        pos = m.end()
        token = m.group(0)
        if token == "\\{{":
            out.append("{{{{")         # Handlebars' escaped "{{" is literal text
            continue
        if token.startswith("{%"):
            statement = m.group(2).strip().split(" ")[0] or "empty"
            raise _reject(f"a {{% {statement} %}} statement", flavor, where, text[:m.start()])
        if token.startswith("{#"):
            continue                   # a Jinja/Nunjucks comment renders as nothing
        inner = m.group(1)
        if flavor.handlebars and inner is None:
            inner = m.group(2)         # {{name}} (group 1 is the {{{triple}}} form)
        if flavor.handlebars and inner.lstrip().startswith("!"):
            continue                   # {{! comment }} / {{!-- comment --}}
        why = _construct(inner, flavor)
        if why:
            raise _reject(why, flavor, where, text[:m.start()])
        out.append("{" + inner.strip() + "}")
    out.append(_escape(text[pos:]))
    return "".join(out)


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def from_promptkit(template: str, flavor: Flavor, what: str) -> str:
    """promptkit `{name}` text -> `{{name}}` text; refuses literal text the target would parse."""
    literals, names = [""], []
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        literals[-1] += literal       # escaped braces split the literal text into pieces
        if field is None:
            continue
        if field in flavor.helpers:
            raise UserError(f"{what}: the variable {{{field}}} would become {{{{{field}}}}}, "
                            f"which {flavor.name} reads as its '{field}' helper",
                            hint="Rename the variable in a new version, or export to another "
                                 "format.")
        names.append(field)
        literals.append("")
    for i, literal in enumerate(literals):
        check_literal(literal, flavor, what)
        # A brace right beside a variable would read as part of the tag ({{{x}}}, {{x}}}).
        if (i > 0 and literal.startswith("}")) or (i < len(names) and literal.endswith("{")):
            raise UserError(f"{what}: a literal brace touches a variable, which {flavor.name} "
                            "would misread", hint="Put a space between the brace and the "
                                                  "variable.")
    out = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        out += ["{{" + name + "}}", literal]
    return "".join(out)


def check_literal(text: str, flavor: Flavor, what: str) -> str:
    """Literal text, refused when the target engine would read part of it as a tag."""
    tags = ("{{", "{%", "{#") if flavor.jinja_tags else ("{{",)
    for tag in tags:
        if tag in text:
            raise UserError(f"{what}: the text contains '{tag}', which {flavor.name} would read "
                            "as the start of a tag", hint="Export to another format, or reword "
                                                          "that text.")
    return text
