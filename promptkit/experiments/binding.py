"""Prompt variants for experiments: a persona filled in, a few-shot selection set, per cell.

A cell's prompt is the released version with some choices made: `persona-speaker@1` with
role "lawyer", `grounded-fewshot@1` with 3 examples picked semantically. The result is still a
`PromptSpec` (the pipeline takes it as is), its content hash covers the choices, and the
released file is never touched.
"""

from __future__ import annotations

import hashlib
import string

from pydantic import PrivateAttr

from promptkit.errors import UserError
from promptkit.prompts.spec import PromptSpec


class BoundPrompt(PromptSpec):
    """A PromptSpec that brings its own embedder and, for random examples, a seed per question.

    Seeded-random selection draws a fresh sample for every question (seeded by the question
    text), so a cell measures random examples, not one lucky or unlucky fixed draw.
    """

    _embedder: object = PrivateAttr(default=None)
    _per_question: bool = PrivateAttr(default=False)

    def render(self, *, example_query=None, embedder=None, seed=None, n_examples=None,
               **variables):
        if seed is None and self._per_question:
            seed = question_seed(self.example_selection.seed, str(variables.get("question", "")))
        return super().render(example_query=example_query, embedder=embedder or self._embedder,
                              seed=seed, n_examples=n_examples, **variables)


def question_seed(base: int, question: str) -> int:
    digest = hashlib.sha256(f"{base}\0{question}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def bind_text(text: str, values: dict[str, str]) -> str:
    """Fill only the named variables; every other field and literal brace is kept as written."""
    out = []
    for literal, field, _spec, _conv in string.Formatter().parse(text):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if field in values:
            out.append(str(values[field]).replace("{", "{{").replace("}", "}}"))
        else:
            out.append("{" + field + "}")
    return "".join(out)


def bind(prompt: str | PromptSpec, *, variables: dict[str, str] | None = None,
         selection: dict | None = None, embedder=None, note: str = "") -> BoundPrompt:
    """`prompt` with `variables` filled and its example selection replaced by `selection`."""
    from promptkit.prompts import load_prompt

    spec = load_prompt(prompt) if isinstance(prompt, str) else prompt
    data = spec.model_dump(mode="json", exclude_unset=True)
    variables = variables or {}
    unknown = sorted(set(variables) - spec.variables)
    if unknown:
        raise UserError(f"prompt '{spec.ref}' has no variable(s) {unknown} to fill",
                        hint=f"Its variables: {sorted(spec.variables)}.")
    for key in ("system", "language", "template"):
        if key in data:
            data[key] = bind_text(data[key], variables)
    if selection is not None:
        if not spec.examples:
            raise UserError(f"prompt '{spec.ref}' has no few-shot examples to select from",
                            hint="Use a few-shot prompt (kind: few-shot) for few_shot.prompt.")
        if selection.get("k") and selection["k"] > len(spec.examples):
            raise UserError(f"prompt '{spec.ref}' has {len(spec.examples)} examples; "
                            f"{selection['k']} were asked for",
                            hint="Lower few_shot.n or use a prompt with more examples.")
        data["example_selection"] = {**data.get("example_selection", {}), **selection}
    if note:
        data["description"] = f"{data.get('description', '')} [{note}]".strip()
    bound = BoundPrompt.model_validate(data)
    bound._embedder = embedder
    bound._per_question = bound.example_selection.method == "random"
    return bound
