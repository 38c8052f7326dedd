"""A judge: a chat model asked through versioned prompts that declare an output schema.

Every judge call renders a pinned prompt version (`judge-verdicts@1`), asks for a reply that
follows the prompt's `output_schema` — constrained decoding where the backend can, free text
parsed and validated where it cannot or `constrain=False` — and returns a `Structured` result
whose outcome is "ok" or "unparsable". Prompt refs and content hashes go into every verdict's
record, so a score can be traced to the exact words the judge read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from typing import TYPE_CHECKING, Any

from promptkit.errors import NotFoundError, UserError

if TYPE_CHECKING:
    from promptkit.llm.base import ChatModel
    from promptkit.llm.structured import Structured
    from promptkit.prompts.spec import PromptSpec

_MEMO_SIZE = 2048   # judge replies kept per judge: metrics sharing a question ask once


def judge_prompt(ref: str) -> PromptSpec:
    """A judge prompt from the prompts in use (a user's own folder first, then the library
    shipped with promptkit); a user's folder holding other versions of a judge prompt than the
    pinned one does not hide the shipped version."""
    from promptkit.paths import shipped_prompts_dir
    from promptkit.prompts import load_prompt

    try:
        return load_prompt(ref)
    except NotFoundError:
        return load_prompt(ref, root=shipped_prompts_dir())


class Judge:
    """A judge model (a spec string, a ChatModel, or None for the default model).

    `attempt` numbers repeated asks of the same question: attempt n samples with the prompt's
    seed + n, so repeats are separate requests (and separate cache entries). `temperature`
    overrides the prompts' own (0) to measure how stable verdicts are under sampling.
    """

    def __init__(self, model: str | ChatModel | None = None, *, constrain: bool = True,
                 temperature: float | None = None, evidence: str | None = None):
        self._model_arg = model
        self._model = None if isinstance(model, str) or model is None else model
        self.constrain = constrain
        self.temperature = temperature
        # The embedder that finds the passage closest to a claim when the judge's quote is
        # not word for word in the passages (None: the library's default).
        self.evidence = evidence
        self._attributor = None
        self._prompts: dict[str, PromptSpec] = {}
        self._memo: dict[str, Structured] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, judge: Judge | str | ChatModel | None, *, constrain: bool = True) -> Judge:
        """A Judge from what a metric's options give: a Judge, a model spec, a model, or None."""
        if isinstance(judge, Judge):
            return judge
        return cls(judge, constrain=constrain)

    @property
    def model(self) -> ChatModel:
        if self._model is None:
            from promptkit.llm.specs import get_model

            with self._lock:
                if self._model is None:
                    self._model = get_model(self._model_arg)
        return self._model

    @property
    def spec(self) -> str:
        if self._model is not None:
            return self._model.spec
        if self._model_arg:
            return str(self._model_arg)
        from promptkit.llm.specs import default_spec

        return default_spec()

    @property
    def constrained(self) -> bool:
        """Whether this judge's replies are decoded under their schema (read from the model)."""
        return self.constrain and self.model.can_constrain

    def prompt(self, ref: str) -> PromptSpec:
        if ref not in self._prompts:
            self._prompts[ref] = judge_prompt(ref)
        return self._prompts[ref]

    def describe(self, *refs: str) -> dict:
        """What a verdict records about its judge: model, prompts with hashes, constraint."""
        return {"judge": self.spec, "constrained": self.constrained,
                "prompts": {self.prompt(r).ref: self.prompt(r).hash[:19] for r in refs}}

    def closeness(self, claim: str, passages: list[str]) -> list[float]:
        """How well each of `passages` supports `claim`: the attribution score (content words
        shared, and multilingual-e5 cosine), as `ask` uses for its sources."""
        if self._attributor is None:
            from promptkit.embedders import DEFAULT, get_embedder
            from promptkit.pipeline.attribution import Attributor

            with self._lock:
                if self._attributor is None:
                    self._attributor = Attributor(get_embedder(self.evidence or DEFAULT))
        return [float(v) for v in self._attributor.support([claim], passages)[0]]

    def ask(self, ref: str, variables: dict[str, Any], *, schema: dict | None = None,
            attempt: int = 0, min_tokens: int | None = None) -> Structured:
        """Render prompt `ref` with `variables` and get a reply that follows its schema
        (or `schema`, a tightened copy). The same question asked twice is answered once.
        `min_tokens` raises the prompt's reply budget when the reply has to be longer (many
        claims, each with its quote); a budget already large enough is left as it is."""
        spec = self.prompt(ref)
        schema = schema if schema is not None else spec.output_schema
        if schema is None:
            raise UserError(f"judge prompt {spec.ref} declares no output_schema",
                            hint="A judge prompt says the shape of its reply with "
                                 "`output_schema:` (JSON Schema) in its file.")
        params = spec.gen_params()
        budget = params.max_tokens
        if min_tokens is not None and (budget is None or budget < min_tokens):
            budget = min_tokens
        key = hashlib.sha256(json.dumps([spec.ref, spec.hash, variables, schema, attempt,
                                         self.constrain, self.temperature, budget],
                                        sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            hit = self._memo.get(key)
        if hit is not None:
            return hit
        changes: dict[str, Any] = {"seed": (params.seed or 0) + attempt,
                                   "max_tokens": budget}
        if self.temperature is not None:
            changes["temperature"] = self.temperature
        params = dataclasses.replace(params, **changes)
        messages = spec.render(**variables)
        result = self.model.generate_structured(messages, schema, params,
                                                constrain=self.constrain)
        with self._lock:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = result
        return result


__all__ = ["Judge", "judge_prompt"]
