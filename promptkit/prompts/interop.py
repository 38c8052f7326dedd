"""Prompt files to and from other tools: promptfoo, Langfuse, dotprompt and Prompty.

Export writes a prompt version as the other tool reads it (chat messages with `{{variables}}`,
generation settings where the format has a place for them). Import turns such a file into the
next version of a promptkit prompt. Only plain substitution crosses over: control flow,
filters, partials and helpers are refused with the construct, file and line (see
`interop_templates`). Few-shot examples travel as literal user/assistant turns; on import,
earlier turns that fit the last user template become examples again.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from promptkit.errors import ConfigError, UserError
from promptkit.prompts.interop_templates import (
    HANDLEBARS,
    JINJA,
    MUSTACHE,
    NUNJUCKS,
    Flavor,
    Where,
    check_literal,
    from_promptkit,
    to_promptkit,
)
from promptkit.prompts.spec import NAME_RE, PromptSpec
from promptkit.prompts.template import fill
from promptkit.safeparse import load_yaml, loads_json

EXPORT_FORMATS = ("promptfoo", "langfuse", "dotprompt", "prompty")
IMPORT_FORMATS = ("dotprompt", "prompty", "langfuse", "promptfoo")
_ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant",
          "model": "assistant", "ai": "assistant"}


@dataclass
class Message:
    role: str
    content: str
    where: Where


@dataclass
class Imported:
    """A foreign prompt file, read: messages in its own syntax, settings, what was left out."""

    messages: list[Message]
    name: str | None = None
    description: str = ""
    params: dict = field(default_factory=dict)
    kind: str | None = None
    ignored: list[str] = field(default_factory=list)
    path: str | None = None


# ------------------------------------------------------------------------------- export

def _messages(spec: PromptSpec, flavor: Flavor) -> list[dict]:
    """The spec's chat messages with `{{variables}}`; few-shot turns are literal text."""
    if spec.example_selection.method == "semantic" and spec.examples:
        raise UserError(f"{spec.ref} picks its few-shot examples per question (semantic "
                        "selection), which a static chat template cannot express",
                        hint="Export a version with fixed or random example selection.")
    out = []
    system = spec._system_template()
    if system:
        out.append({"role": "system",
                    "content": from_promptkit(system, flavor, f"{spec.ref}: system")})
    for i, ex in enumerate(spec.select_examples({})):
        what = f"{spec.ref}: example {i + 1}"
        out.append({"role": "user",
                    "content": check_literal(fill(spec.template, ex.vars), flavor, what)})
        out.append({"role": "assistant", "content": check_literal(ex.answer, flavor, what)})
    out.append({"role": "user",
                "content": from_promptkit(spec.template, flavor, f"{spec.ref}: template")})
    return out


def _promptkit_meta(spec: PromptSpec) -> dict:
    return {"ref": spec.ref, "kind": spec.kind, "hash": spec.hash}


def _yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


def _export_promptfoo(spec: PromptSpec) -> str:
    return json.dumps(_messages(spec, NUNJUCKS), indent=2, ensure_ascii=False) + "\n"


def _export_langfuse(spec: PromptSpec) -> str:
    p = spec.params
    config = {"temperature": p.temperature, "max_tokens": p.max_tokens, "top_p": p.top_p,
              "stop": p.stop, "seed": p.seed, "promptkit": _promptkit_meta(spec)}
    data = {"name": spec.name, "type": "chat", "prompt": _messages(spec, MUSTACHE),
            "config": config, "labels": spec.labels, "commitMessage": spec.description}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _export_dotprompt(spec: PromptSpec) -> str:
    p = spec.params
    config = {"temperature": p.temperature, "maxOutputTokens": p.max_tokens, "topP": p.top_p}
    if p.stop:
        config["stopSequences"] = p.stop
    front = {"name": spec.name, "config": config,
             "input": {"schema": {v: "string" for v in sorted(spec.variables)}},
             "metadata": {"description": spec.description,
                          "promptkit": {**_promptkit_meta(spec), "seed": p.seed}}}
    roles = {"system": "system", "user": "user", "assistant": "model"}
    body = "\n\n".join(f'{{{{role "{roles[m["role"]]}"}}}}\n{m["content"]}'
                       for m in _messages(spec, HANDLEBARS))
    return f"---\n{_yaml(front)}---\n{body}\n"


_PROMPTY_ROLE = re.compile(r"^\s*#?\s*(system|user|assistant)\s*:\s*$", re.I | re.M)


def _export_prompty(spec: PromptSpec) -> str:
    p = spec.params
    params = {"temperature": p.temperature, "max_tokens": p.max_tokens, "top_p": p.top_p,
              "seed": p.seed}
    if p.stop:
        params["stop"] = p.stop
    front = {"name": spec.name, "description": spec.description,
             "version": str(spec.version), "model": {"api": "chat", "parameters": params},
             "inputs": {v: {"type": "string"} for v in sorted(spec.variables)},
             "metadata": {"promptkit": _promptkit_meta(spec)}}
    parts = []
    for m in _messages(spec, JINJA):
        if _PROMPTY_ROLE.search(m["content"]):
            raise UserError(f"{spec.ref}: a line of the {m['role']} message reads like a "
                            "Prompty role marker ('user:'), which would split the message",
                            hint="Reword that line, or export to another format.")
        parts.append(f"{m['role']}:\n{m['content']}")
    return f"---\n{_yaml(front)}---\n" + "\n\n".join(parts) + "\n"


EXPORTERS = {"promptfoo": _export_promptfoo, "langfuse": _export_langfuse,
             "dotprompt": _export_dotprompt, "prompty": _export_prompty}
SUFFIXES = {"promptfoo": ".json", "langfuse": ".json", "dotprompt": ".prompt",
            "prompty": ".prompty"}


def export_prompt(spec: PromptSpec, fmt: str) -> str:
    """The text of `spec` in format `fmt` (one of EXPORT_FORMATS)."""
    if fmt not in EXPORTERS:
        raise UserError(f"unknown export format '{fmt}'",
                        hint=f"Use one of: {', '.join(EXPORT_FORMATS)}.")
    return EXPORTERS[fmt](spec)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as `|-` blocks, so exported and imported files read like the source."""


def _str(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


# ------------------------------------------------------------------------------- import

def _front_matter(text: str, path: str) -> tuple[dict, str, int]:
    """(YAML front matter, body, file line where the body starts)."""
    text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        return {}, text, 1
    end = text.find("\n---", 4)
    if end < 0 or text[end + 4:end + 5] not in ("", "\n"):
        raise ConfigError("front matter starts with '---' but has no closing '---' line",
                          path=path, line=1)
    try:
        front = load_yaml(text[4:end]) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}",
                          path=path, line=mark.line + 2 if mark else None) from None
    if not isinstance(front, dict):
        raise ConfigError("front matter must be a mapping of keys", path=path, line=2)
    body_start = end + 5
    return front, text[body_start:], text[:body_start].count("\n") + 1


def _split(body: str, marker: re.Pattern, path: str, first_line: int,
           default_role: str) -> list[Message]:
    """Body text cut at role markers; text before the first marker takes `default_role`."""
    out: list[Message] = []
    pos, role = 0, default_role
    for m in [*marker.finditer(body), None]:
        end = m.start() if m else len(body)
        chunk = body[pos:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip("\n"))
            line = first_line + body[:pos + lead].count("\n")
            out.append(Message(role, chunk.strip("\n"), Where(path, line, f"{role} message")))
        if m:
            role = _role(m.group(1), Where(path, first_line + body[:m.start()].count("\n")))
            pos = m.end()
    return out


def _role(name: str, where: Where) -> str:
    role = _ROLES.get(name.strip().lower())
    if role is None:
        raise ConfigError(f"role '{name}' has no promptkit equivalent (system, user, "
                          "assistant)", path=where.path, line=where.line)
    return role


_DOTPROMPT_ROLE = re.compile(r'\{\{\s*role\s+["\'](\w+)["\']\s*\}\}\n?')


def _read_dotprompt(text: str, path: str) -> Imported:
    front, body, first = _front_matter(text, path)
    config = dict(front.get("config") or {})
    meta = dict(front.get("metadata") or {})
    pk = dict(meta.get("promptkit") or {})
    params = {"temperature": config.pop("temperature", None),
              "max_tokens": config.pop("maxOutputTokens", None),
              "top_p": config.pop("topP", None), "stop": config.pop("stopSequences", None),
              "seed": pk.get("seed")}
    ignored = [f"config.{k}" for k in config] + [k for k in front if k in (
        "model", "tools", "output", "variant")]
    return Imported(_split(body, _DOTPROMPT_ROLE, path, first, "user"), front.get("name"),
                    meta.get("description") or "", params, pk.get("kind"), ignored)


def _read_prompty(text: str, path: str) -> Imported:
    front, body, first = _front_matter(text, path)
    model = dict(front.get("model") or {})
    params = dict(model.get("parameters") or {})
    pk = dict((front.get("metadata") or {}).get("promptkit") or {})
    ours = {k: params.pop(k, None) for k in ("temperature", "max_tokens", "top_p", "stop",
                                             "seed")}
    ignored = [f"model.parameters.{k}" for k in params] + [
        f"model.{k}" for k in model if k not in ("api", "parameters")]
    return Imported(_split(body, _PROMPTY_ROLE, path, first, "user"), front.get("name"),
                    front.get("description") or "", ours, pk.get("kind"), ignored)


def _json_messages(items, path: str, text: str) -> list[Message]:
    if not isinstance(items, list) or not items:
        raise ConfigError("expected a non-empty list of chat messages ({role, content})",
                          path=path)
    lines = [text[:m.start()].count("\n") + 1 for m in re.finditer(r'"content"\s*:', text)]
    out = []
    for i, item in enumerate(items):
        line = lines[i] if i < len(lines) else None
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            kind = item.get("type") if isinstance(item, dict) else None
            what = f"a '{kind}' entry" if kind else "an entry without text 'content'"
            raise ConfigError(f"message {i + 1} is {what}; only text messages can be imported",
                              path=path, line=line)
        # JSON strings escape their line breaks: errors point at the message's line.
        where = Where(path, line, f"message {i + 1} ({item.get('role')})", maps_lines=False)
        out.append(Message(_role(str(item.get("role", "")), Where(path, line)),
                           item["content"], where))
    return out


def _load_json(text: str, path: str):
    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None


def _read_langfuse(text: str, path: str) -> Imported:
    data = _load_json(text, path)
    if isinstance(data, list):
        return Imported(_json_messages(data, path, text))
    if not isinstance(data, dict) or "prompt" not in data:
        raise ConfigError("expected a Langfuse prompt: {name, type, prompt, config} or a list "
                          "of chat messages", path=path)
    prompt = data["prompt"]
    if isinstance(prompt, str):   # a text prompt: one user turn
        messages = [Message("user", prompt, Where(path, None, "prompt"))]
    else:
        messages = _json_messages(prompt, path, text)
    config = dict(data.get("config") or {})
    pk = dict(config.pop("promptkit", None) or {})
    params = {k: config.pop(k, None) for k in ("temperature", "max_tokens", "top_p", "stop",
                                               "seed")}
    return Imported(messages, data.get("name"), data.get("commitMessage") or "", params,
                    pk.get("kind"), [f"config.{k}" for k in config])


def _read_promptfoo(text: str, path: str) -> Imported:
    return Imported(_json_messages(_load_json(text, path), path, text))


READERS = {"dotprompt": (_read_dotprompt, HANDLEBARS), "prompty": (_read_prompty, JINJA),
           "langfuse": (_read_langfuse, MUSTACHE), "promptfoo": (_read_promptfoo, NUNJUCKS)}


def read_foreign(path: str | Path, fmt: str) -> tuple[Imported, Flavor]:
    if fmt not in READERS:
        raise UserError(f"unknown import format '{fmt}'",
                        hint=f"Use one of: {', '.join(IMPORT_FORMATS)}.")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", path=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("file is not UTF-8 text", path=str(path)) from None
    reader, flavor = READERS[fmt]
    imported = reader(text, str(path))
    imported.path = str(path)
    return imported, flavor


def to_spec_data(imp: Imported, flavor: Flavor, name: str, version: int) -> dict:
    """A promptkit prompt file's data from a foreign prompt's messages and settings."""
    msgs = [Message(m.role, to_promptkit(m.content, flavor, m.where), m.where)
            for m in imp.messages]
    # A message left empty (only comments) renders as nothing, as dotprompt itself does.
    msgs = [m for m in msgs if m.content.strip()]
    if not msgs:
        raise ConfigError("the file has no message text to import", path=imp.path)
    system = ""
    while msgs and msgs[0].role == "system":
        system = "\n\n".join(p for p in (system, msgs.pop(0).content) if p)
    if not msgs or msgs[-1].role != "user":
        where = (msgs or imp.messages)[-1].where
        raise ConfigError("the last message must be the user turn that takes the variables",
                          path=where.path, line=where.line)
    template = msgs[-1].content
    examples = _examples(msgs[:-1], template)
    kind = "few-shot" if examples else ("role" if imp.kind == "role" and system else "zero-shot")
    data = {"name": name, "version": version, "kind": kind, "description": imp.description or ""}
    if system:
        data["system"] = system
    data["template"] = template
    if examples:
        data["examples"] = examples
    params = _params(imp.params)
    if params:
        data["params"] = params
    data["labels"] = []
    return data


def _examples(turns: list[Message], template: str) -> list[dict]:
    """Earlier user/assistant pairs as few-shot examples of `template` (or a clear refusal)."""
    from promptkit.prompts.template import template_variables

    if not turns:
        return []
    names = template_variables(template)
    pattern = _reverse(template)
    out = []
    for i in range(0, len(turns), 2):
        pair = turns[i:i + 2]
        user = pair[0]
        if user.role != "user" or len(pair) < 2 or pair[1].role != "assistant":
            raise ConfigError("earlier turns must alternate user, assistant (few-shot "
                              f"examples); found {' then '.join(m.role for m in pair)}",
                              path=user.where.path, line=user.where.line)
        for m in pair:
            if template_variables(m.content):
                raise ConfigError("only the last user turn may take variables; earlier turns "
                                  "become fixed few-shot examples", path=m.where.path,
                                  line=m.where.line)
        literal = user.content.replace("{{", "{").replace("}}", "}")
        match = pattern.fullmatch(literal)
        if match is None or not names:
            raise ConfigError("an earlier user turn does not follow the last user turn's "
                              "template, so it cannot become a few-shot example",
                              path=user.where.path, line=user.where.line,
                              hint="promptkit prompts have one template; multi-turn "
                                   "conversations with different turns are not imported.")
        answer = pair[1].content.replace("{{", "{").replace("}}", "}")
        out.append({"vars": {n: match.group(n) for n in sorted(names)}, "answer": answer})
    return out


def _reverse(template: str) -> re.Pattern:
    """A regex matching what `template` renders to, one named group per variable."""
    import string

    parts, seen = [], set()
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
            seen.add(name)
    return re.compile("".join(parts), re.S)


def _params(raw: dict) -> dict:
    out = {}
    if raw.get("temperature") is not None:
        out["temperature"] = float(raw["temperature"])
    if raw.get("max_tokens") is not None:
        out["max_tokens"] = int(raw["max_tokens"])
    if raw.get("top_p") is not None:
        out["top_p"] = float(raw["top_p"])
    stop = raw.get("stop")
    if stop:
        out["stop"] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
    if raw.get("seed") is not None:
        out["seed"] = int(raw["seed"])
    return out


@dataclass
class ImportResult:
    path: Path
    ref: str
    ignored: list[str]


def import_target(root: str | Path | None) -> Path:
    """Where imports go: `root`, else $PROMPTKIT_PROMPTS, else ./prompts (never the shipped set)."""
    if root is not None:
        return Path(root)
    env = os.environ.get("PROMPTKIT_PROMPTS")
    return Path(env).expanduser() if env else Path.cwd() / "prompts"


def import_prompt(path: str | Path, fmt: str, *, root: str | Path | None = None,
                  name: str | None = None) -> ImportResult:
    """Read a foreign prompt file and write it as the next version of a promptkit prompt."""
    from promptkit.prompts.registry import PromptRegistry
    from promptkit.userfiles import validate

    imp, flavor = read_foreign(path, fmt)
    name = name or _name_of(imp, Path(path))
    target = import_target(root)
    target.mkdir(parents=True, exist_ok=True)
    registry = PromptRegistry(target)
    version = registry.next_version(name)
    data = to_spec_data(imp, flavor, name, version)
    validate(PromptSpec, data, path=str(path))   # the same checks as a hand-written file
    header = f"# Imported from {Path(path).name} ({fmt}) by `promptkit prompts import`.\n"
    written = registry.write_version(name, version, header + _yaml(data))
    return ImportResult(written, f"{name}@{version}", imp.ignored)


def _name_of(imp: Imported, path: Path) -> str:
    for candidate in (imp.name, path.name.split(".")[0]):
        if isinstance(candidate, str) and NAME_RE.match(candidate) and "@" not in candidate:
            return candidate
    raise UserError(f"cannot take a promptkit prompt name from {path} (its name "
                    f"{imp.name!r} is not a valid one)",
                    hint="Pass --name NAME (letters, digits, '.', '_' and '-').")


__all__ = ["EXPORT_FORMATS", "IMPORT_FORMATS", "ImportResult", "export_prompt",
           "import_prompt", "import_target", "read_foreign", "to_spec_data"]
