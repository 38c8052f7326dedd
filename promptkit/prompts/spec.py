"""`PromptSpec`: one validated prompt version, and strict rendering to chat messages."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from promptkit.errors import TemplateVariableError, UserError
from promptkit.prompts.template import fill, template_variables
from promptkit.userfiles import StrictModel

if TYPE_CHECKING:
    from promptkit.embedders.base import Embedder
    from promptkit.llm.base import GenParams

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
LABEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
# Keyword arguments of `render` itself; a template variable with one of these names could
# never be passed, so such templates are refused at load time.
RESERVED_VARIABLES = frozenset({"example_query", "embedder", "seed", "n_examples"})
HASH_EXCLUDES = frozenset({"labels"})


class FieldProblem(ValueError):
    """A cross-field check failed; `field` says where (pydantic would only say 'the model')."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class _Strict(StrictModel):
    # Strict: a prompt file that says `version: "2"` or `max_tokens: "lots"` is a mistake.
    model_config = ConfigDict(extra="forbid", strict=True)


class Example(_Strict):
    """One few-shot demonstration: the user-template variables and the answer to show."""

    vars: dict[str, str]
    answer: str


class ExampleSelection(_Strict):
    """How few-shot examples are picked: all/first k, seeded random k, or k nearest."""

    method: Literal["fixed", "random", "semantic"] = "fixed"
    k: int | None = Field(default=None, ge=1)   # None: every example
    seed: int = 0                                 # random only
    key: str = "question"                         # semantic: the variable compared


class Params(_Strict):
    """Generation parameters recorded with the prompt (passed on as `GenParams`)."""

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, ge=1)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = 0
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    repeat_penalty: float | None = Field(default=None, ge=1.0, le=2.0)


def content_hash(data: Any) -> str:
    """sha256 of canonical JSON: comments, key order and YAML layout do not change it."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _kind_rules(schema: dict) -> None:
    """JSON Schema only: what `_check_kind` enforces, so editors flag it too."""
    schema["allOf"] = [
        {"if": {"properties": {"kind": {"const": "few-shot"}}, "required": ["kind"]},
         "then": {"required": ["examples"], "properties": {"examples": {"minItems": 1}}},
         "else": {"properties": {"examples": {"maxItems": 0}}}},
        {"if": {"properties": {"kind": {"const": "role"}}, "required": ["kind"]},
         "then": {"required": ["system"], "properties": {"system": {"pattern": r"\S"}}}},
    ]


class PromptSpec(_Strict):
    """A prompt version: metadata, templates, examples, generation params and labels."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_kind_rules)

    name: str
    version: int = Field(ge=1)
    kind: Literal["zero-shot", "few-shot", "role"]
    description: str = ""
    system: str = ""
    template: str
    language: str = ""
    examples: list[Example] = Field(default_factory=list)
    example_selection: ExampleSelection = Field(default_factory=ExampleSelection)
    params: Params = Field(default_factory=Params)
    # A JSON Schema the reply must follow: decoding is constrained to it where the backend can,
    # and the pipeline returns the parsed object (`Answer.data`). Content: it is hashed.
    output_schema: dict[str, Any] | None = None
    labels: list[str] = Field(default_factory=list)

    _source: dict | None = PrivateAttr(default=None)
    _path: Path | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"'{v}' is not a valid prompt name "
                             "(letters, digits, '.', '_' and '-', starting with a letter or digit)")
        return v

    @field_validator("system", "template", "language")
    @classmethod
    def _syntax_ok(cls, v: str) -> str:
        template_variables(v)
        return v

    @field_validator("output_schema")
    @classmethod
    def _schema_ok(cls, v: dict | None) -> dict | None:
        if v is not None:
            from promptkit.llm.structured import check_schema

            try:
                check_schema(v)
            except UserError as exc:
                raise ValueError(exc.message) from None
        return v

    @field_validator("labels")
    @classmethod
    def _labels_ok(cls, v: list[str]) -> list[str]:
        for label in v:
            if not LABEL_RE.match(label) or label == "latest":
                raise ValueError(f"'{label}' is not a valid label (start with a letter; "
                                 "'latest' is reserved)")
        if len(set(v)) != len(v):
            raise ValueError("a label is listed twice")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PromptSpec:
        clash = self.variables & RESERVED_VARIABLES
        if clash:
            raise FieldProblem("template", f"variable name(s) {sorted(clash)} are reserved "
                                           "by render(); rename them")
        self._check_kind()
        self._check_examples()
        return self

    def _check_kind(self) -> None:
        if self.kind == "few-shot" and not self.examples:
            raise FieldProblem("examples", "a few-shot prompt needs at least one example")
        if self.kind != "few-shot" and self.examples:
            raise FieldProblem("examples", f"a {self.kind} prompt has no examples; "
                                           "use kind: few-shot or remove them")
        if self.kind == "role" and not self.system.strip():
            raise FieldProblem("system", "a role prompt needs the persona in 'system'")

    def _check_examples(self) -> None:
        wanted = template_variables(self.template)
        for i, ex in enumerate(self.examples):
            got = set(ex.vars)
            if got != wanted:
                raise FieldProblem(f"examples[{i}].vars",
                                   f"must give exactly the template's variables {sorted(wanted)}, "
                                   f"got {sorted(got)}")
        sel = self.example_selection
        if sel.method == "semantic" and sel.key not in wanted:
            raise FieldProblem("example_selection.key",
                               f"'{sel.key}' is not a variable of the template {sorted(wanted)}")

    # ---- identity -------------------------------------------------------------------------

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def hash(self) -> str:
        """Content hash of the file this spec came from (or of its set fields).

        `labels` are left out: they point at a version (production, canary) and must move
        between released versions without counting as an edit.
        """
        data = self._source
        if data is None:
            data = self.model_dump(mode="json", exclude_unset=True)
        return content_hash({k: v for k, v in data.items() if k not in HASH_EXCLUDES})

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def variables(self) -> set[str]:
        """Every variable `render` needs."""
        return (template_variables(self.system) | template_variables(self.language)
                | template_variables(self.template))

    # ---- rendering ------------------------------------------------------------------------

    def _system_template(self) -> str:
        return "\n\n".join(part.strip() for part in (self.system, self.language) if part.strip())

    def _check_variables(self, values: dict[str, Any]) -> None:
        # None is treated as missing: rendering the text "None" into a prompt is never meant.
        given = {k for k, v in values.items() if v is not None}
        missing = self.variables - given
        unexpected = set(values) - self.variables
        if missing or unexpected:
            raise TemplateVariableError(self.ref, missing=missing, unexpected=unexpected)

    def select_examples(self, variables: dict[str, Any] | None = None, *,
                        example_query: str | None = None, embedder: Embedder | None = None,
                        seed: int | None = None, n_examples: int | None = None) -> list[Example]:
        """The few-shot examples this render uses, in prompt order."""
        from promptkit.prompts.selection import select_examples

        if not self.examples:
            return []
        sel = self.example_selection
        if sel.method == "semantic" and example_query is None:
            example_query = (variables or {}).get(sel.key)
            if example_query is None:
                raise UserError(f"cannot select examples for '{self.ref}': semantic selection "
                                f"compares the '{sel.key}' variable, which was not given",
                                hint="Pass example_query=... (the text to compare examples with).")
        return select_examples(self.examples, sel, query=example_query, embedder=embedder,
                               seed=seed, n=n_examples, ref=self.ref)

    def render(self, *, example_query: str | None = None, embedder: Embedder | None = None,
               seed: int | None = None, n_examples: int | None = None,
               **variables: Any) -> list[dict]:
        """Chat messages: system (if any), few-shot user/assistant turns, then the user turn."""
        self._check_variables(variables)
        examples = self.select_examples(variables, example_query=example_query,
                                        embedder=embedder, seed=seed, n_examples=n_examples)
        messages = []
        system = self._system_template()
        if system:
            messages.append({"role": "system", "content": fill(system, variables)})
        for ex in examples:
            messages.append({"role": "user", "content": fill(self.template, ex.vars)})
            messages.append({"role": "assistant", "content": ex.answer})
        messages.append({"role": "user", "content": fill(self.template, variables)})
        return messages

    def to_langchain(self, *, example_query: str | None = None, embedder: Embedder | None = None,
                     seed: int | None = None, n_examples: int | None = None):
        """A LangChain `ChatPromptTemplate` that formats to the same messages as `render`.

        The few-shot turns are chosen now (they become literal messages); semantic selection
        therefore needs `example_query` here.
        """
        from langchain_core.messages import AIMessage, HumanMessage
        from langchain_core.prompts import ChatPromptTemplate

        examples = self.select_examples({}, example_query=example_query, embedder=embedder,
                                        seed=seed, n_examples=n_examples)
        parts: list[Any] = []
        system = self._system_template()
        if system:
            parts.append(("system", system))
        for ex in examples:
            # Literal messages, so braces in example text are never read as variables.
            parts.append(HumanMessage(content=fill(self.template, ex.vars)))
            parts.append(AIMessage(content=ex.answer))
        parts.append(("human", self.template))
        return ChatPromptTemplate.from_messages(parts, template_format="f-string")

    def gen_params(self) -> GenParams:
        from promptkit.llm.base import GenParams

        p = self.params
        return GenParams(temperature=p.temperature, max_tokens=p.max_tokens, stop=tuple(p.stop),
                         seed=p.seed, top_p=p.top_p, repeat_penalty=p.repeat_penalty,
                         json_schema=self.output_schema)


__all__ = ["Example", "ExampleSelection", "Params", "PromptSpec", "content_hash"]
