"""question -> retrieve -> pack -> render prompt@version -> generate -> `Answer` with a trace."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace

from promptkit.choices import MODES
from promptkit.errors import UserError
from promptkit.llm.base import ChatModel, GenParams
from promptkit.pipeline.answer import Answer
from promptkit.pipeline.attribution import Attributor, parse_citations
from promptkit.pipeline.pack import ORDERS, ContextChunk, Packing, pack
from promptkit.pipeline.trace import Trace
from promptkit.retrieval.rerank import check_candidates

# Each mode's default prompt: the version labelled `production`.
DEFAULT_PROMPTS = {"rag": "rag-answer@production", "oracle": "rag-answer@production",
                   "closed-book": "closed-book@production"}
GROUNDED_VARIABLES = {"question", "context"}


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise UserError(f"unknown {what} '{value}'", hint=f"Use one of: {', '.join(allowed)}.")


class Pipeline:
    """A RAG pipeline. Cheap to build: the model and the store load on first use.

    `model` is a spec string or a ChatModel; `collection` a collection name or any object with
    `.search(query, k=..., mmr=..., hybrid=..., where=..., min_score=...)`; `prompt` a
    reference (`rag-answer@production`, `rag-answer@2`) or a loaded PromptSpec. `rerank` (a
    cross-encoder folder, `hf:org/name`, or a Reranker) reorders `rerank_candidates` retrieved
    passages and keeps the best `k`.
    """

    def __init__(self, prompt=None, model: str | ChatModel | None = None, collection="demo", *,
                 k: int = 4, order: str = "ranked", mmr: bool = False, hybrid: bool = False,
                 where: dict | None = None, min_score: float | None = None, mode: str = "rag",
                 cache_mode: str | None = None, cache_path=None, max_tokens: int | None = None,
                 temperature: float | None = None, seed: int | None = None,
                 rerank=None, rerank_candidates: int | None = None, attribute: bool = True):
        _check_choice(mode, MODES, "pipeline mode")
        _check_choice(order, ORDERS, "context order")
        if k < 1:
            raise UserError(f"k must be at least 1, got {k}")
        if min_score is not None and not math.isfinite(min_score):
            raise UserError(f"min_score must be a number, got {min_score}",
                            hint="Use a cosine similarity between -1 and 1, e.g. 0.3.")
        self.mode, self.k, self.order = mode, k, order
        # Attribute unmarked answer sentences to passages (sources on every answer).
        self.attribute = attribute
        self.mmr, self.hybrid, self.where, self.min_score = mmr, hybrid, where, min_score
        self._rerank_arg = rerank
        self._reranker = None
        self.rerank_candidates = None if rerank is None else check_candidates(k, rerank_candidates)
        self.prompt = self._load_prompt(prompt or DEFAULT_PROMPTS[mode])
        self._model_arg = model
        self._cache = {"cache_mode": cache_mode, "cache_path": cache_path}
        self._model: ChatModel | None = model if isinstance(model, ChatModel) else None
        self._collection_arg = collection
        self._retriever = None if isinstance(collection, str) else collection
        overrides = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed}
        self.params: GenParams = replace(self.prompt.gen_params(),
                                         **{k_: v for k_, v in overrides.items() if v is not None})

    @classmethod
    def from_settings(cls, *settings, **options) -> Pipeline:
        """A pipeline from settings models — `promptkit.settings.RetrievalSettings`,
        `GenerationSettings`, or what extends them (an eval config's `pipeline:`, a suite's
        `retrieval:` and `params:`); None entries are skipped. `options` add the rest (prompt,
        model, collection, mode, seed, ...) and win over the settings."""
        kwargs: dict = {}
        for s in settings:
            if s is None:
                continue
            if hasattr(s, "pipeline_options"):
                kwargs.update(s.pipeline_options())
            if hasattr(s, "generation_options"):
                kwargs.update(s.generation_options())
        return cls(**{**kwargs, **options})

    def _load_prompt(self, prompt):
        from promptkit.prompts import load_prompt

        spec = load_prompt(prompt) if isinstance(prompt, str) else prompt
        wanted = GROUNDED_VARIABLES if self.mode != "closed-book" else {"question"}
        if spec.variables != wanted:
            raise UserError(
                f"prompt '{spec.ref}' takes variables {sorted(spec.variables)}, but {self.mode} "
                f"mode fills {sorted(wanted)}",
                hint="Use a grounded prompt (question + context) for rag/oracle and a closed-book "
                     "prompt (question only) for --mode closed-book.")
        return spec

    @property
    def model(self) -> ChatModel:
        if self._model is None:
            from promptkit.llm.specs import get_model

            self._model = get_model(self._model_arg, **self._cache)
        return self._model

    @property
    def retriever(self):
        if self._retriever is None:
            from promptkit.store import open_collection

            self._retriever = open_collection(name=self._collection_arg)
        return self._retriever

    @property
    def reranker(self):
        """The rerank stage (None when off), loaded on first use."""
        if self._reranker is None and self._rerank_arg is not None:
            from promptkit.retrieval.rerank import get_reranker

            self._reranker = get_reranker(self._rerank_arg)
        return self._reranker

    @property
    def collection_name(self) -> str:
        arg = self._collection_arg
        return arg if isinstance(arg, str) else str(getattr(arg, "name", type(arg).__name__))

    # ---- steps ---------------------------------------------------------------------------

    def retrieve(self, question: str) -> list[ContextChunk]:
        return self._retrieve(question)[0]

    def _retrieve(self, question: str) -> tuple[list[ContextChunk], dict | None]:
        """The passages to pack, and what the rerank stage did (None when it is off)."""
        n = self.rerank_candidates or self.k
        hits = self.retriever.search(question, k=n, mmr=self.mmr, hybrid=self.hybrid,
                                     where=self.where, min_score=self.min_score)
        found = [ContextChunk.from_any(hit, rank) for rank, hit in enumerate(hits, start=1)]
        if self.reranker is None:
            return found, None
        t0 = time.perf_counter()
        order = self.reranker.rank(question, [c.text for c in found], self.k)
        seconds = round(time.perf_counter() - t0, 6)
        # The first stage's score and rank stay in the metadata: the trace shows both.
        kept = [replace(found[i], score=score, rank=rank,
                        metadata={**found[i].metadata, "retrieval_score": found[i].score,
                                  "retrieval_rank": found[i].rank})
                for rank, (i, score) in enumerate(order, start=1)]
        info = {**self.reranker.describe(), "candidates": n, "seconds": seconds,
                "retrieved": [{"id": c.id, "source": c.source, "score": c.score, "rank": c.rank}
                              for c in found]}
        return kept, info

    def context_budget(self, question: str) -> tuple[int, int]:
        """(tokens left for passages, tokens the prompt takes without them)."""
        empty = self.prompt.render(question=question, context="",
                                   embedder=getattr(self._retriever, "embedder", None))
        overhead = self.model.count_message_tokens(empty)
        budget = self.model.context_window - self.params.max_tokens - overhead
        if budget <= 0:
            raise UserError(
                f"no room for context: {self.model.spec} has a {self.model.context_window}-token "
                f"window, the answer budget is {self.params.max_tokens} and the prompt itself "
                f"takes {overhead}",
                hint="Shorten the question, lower max_tokens, or use a model with a larger window.")
        return budget, overhead

    def render(self, question: str, packing: Packing | None) -> list[dict]:
        if packing is None:
            return self.prompt.render(question=question)
        return self.prompt.render(question=question, context=packing.context,
                                  embedder=getattr(self._retriever, "embedder", None))

    # ---- the call ------------------------------------------------------------------------

    def ask(self, question: str, *, contexts: Sequence | None = None,
            on_token: Callable[[str], None] | None = None,
            on_context: Callable[[Packing], None] | None = None) -> Answer:
        """Answer `question`; `contexts` (strings, dicts or hits) replace retrieval (oracle).

        `on_token` receives the answer as it streams; `on_context` the packed passages just
        before generation (e.g. to show them).
        """
        if not isinstance(question, str) or not question.strip():
            raise UserError("the question is empty", hint='Ask something: promptkit ask "..."')
        t_start = time.perf_counter()
        mode, retrieved, reranked = self.mode, [], None
        if mode == "closed-book":
            if contexts is not None:
                raise UserError("closed-book mode takes no contexts",
                                hint="Use mode='oracle' to answer from given passages.")
        elif contexts is not None:
            mode = "oracle"
            retrieved = [ContextChunk.from_any(c, i) for i, c in enumerate(contexts, start=1)]
        elif mode == "oracle":
            raise UserError("oracle mode needs the passages: ask(question, contexts=[...])")
        else:
            retrieved, reranked = self._retrieve(question)
        t_retrieved = time.perf_counter()

        packing, overhead = None, None
        if mode != "closed-book":
            budget, overhead = self.context_budget(question)
            packing = pack(retrieved, budget_tokens=budget, count_tokens=self.model.count_tokens,
                           order=self.order)
        messages = self.render(question, packing)
        t_packed = time.perf_counter()
        if on_context is not None and packing is not None:
            on_context(packing)

        structured = None
        if self.params.json_schema is not None:
            # The prompt declares an output schema: constrained where the backend can, parsed
            # and validated either way (Answer.data; None with the reason when unparsable).
            structured = self.model.generate_structured(messages, self.params.json_schema,
                                                        self.params, on_token=on_token)
            gen = structured.generation
        else:
            gen = self.model.generate(messages, self.params, on_token=on_token)
        t_done = time.perf_counter()

        trace: Trace = {
            "mode": mode,
            "question": question,
            "prompt": {"ref": self.prompt.ref, "name": self.prompt.name,
                       "version": self.prompt.version, "kind": self.prompt.kind,
                       "hash": self.prompt.hash},
            "messages": messages,
            "retrieval": self._retrieval_trace(mode, retrieved, packing, reranked),
            "context": None if packing is None else {
                "budget_tokens": packing.budget_tokens, "used_tokens": packing.used_tokens,
                "prompt_overhead_tokens": overhead, "order": self.order,
                # Whether those counts came from the model's own tokenizer or an estimate.
                "exact_counts": bool(self.model.exact_token_count)},
            "model": {**self.model.describe(), "params": self.params.as_dict()},
            "usage": {"prompt_tokens": gen.prompt_tokens,
                      "completion_tokens": gen.completion_tokens},
            "latency": {"retrieve_s": round(t_retrieved - t_start, 6),
                        "pack_s": round(t_packed - t_retrieved, 6),
                        "generate_s": round(t_done - t_packed, 6),
                        "first_token_s": gen.first_token_s,
                        "total_s": round(t_done - t_start, 6)},
            "cache_hit": gen.cached,
            "finish_reason": gen.finish_reason,
            "attempts": gen.attempts,
        }
        if structured is not None:
            trace["structured"] = structured.describe()
        citations, unsupported = self.sources(gen.text, packing)
        trace["citations"] = [asdict(c) for c in citations]
        trace["unsupported_markers"] = unsupported
        trace["latency"]["attribute_s"] = round(time.perf_counter() - t_done, 6)
        return Answer(question=question, text=gen.text, citations=citations, trace=trace,
                      data=structured.value if structured is not None else None)

    def sources(self, text: str, packing: Packing | None) -> tuple[list, list[int]]:
        """(sources, unsupported markers): `[n]` markers checked against the passages, the
        other sentences attributed."""
        if packing is None:
            return [], []
        if not self.attribute:
            return parse_citations(text, packing), []
        attributor = Attributor(getattr(self._retriever, "embedder", None))
        return attributor.citations(text, packing), attributor.unsupported

    def _retrieval_trace(self, mode: str, retrieved: list[ContextChunk],
                         packing: Packing | None, reranked: dict | None = None) -> dict | None:
        if mode == "closed-book":
            return None
        packed = packing.chunks if packing else []
        return {
            "collection": self.collection_name if mode == "rag" else None,
            "k": self.k, "mmr": self.mmr, "hybrid": self.hybrid, "where": self.where,
            "min_score": self.min_score,
            # With a rerank stage: the model, the candidates and their first-stage order;
            # `retrieved` below is then the reranked top k with the reranker's scores.
            "rerank": reranked,
            "retrieved": [{"id": c.id, "source": c.source, "score": c.score, "rank": c.rank}
                          for c in retrieved],
            "packed": [{"id": p.chunk.id, "source": p.chunk.source, "score": p.chunk.score,
                        "rank": p.chunk.rank, "position": p.number, "tokens": p.tokens,
                        "truncated": p.truncated} for p in packed],
            "dropped": [c.id for c in (packing.dropped if packing else [])],
        }

    def as_runnable(self):
        """A LangChain Runnable: input a question string or {"question": ..., "contexts": [...]}."""
        from langchain_core.runnables import RunnableLambda

        def invoke(value) -> Answer:
            if isinstance(value, str):
                return self.ask(value)
            if isinstance(value, dict) and "question" in value:
                return self.ask(value["question"], contexts=value.get("contexts"))
            raise UserError(f"pipeline runnable got {type(value).__name__}; it takes a question "
                            "string or a dict with 'question' (and optional 'contexts')")

        return RunnableLambda(invoke, name="promptkit-pipeline")


def ask(question: str, **options) -> Answer:
    """One-shot: `promptkit.ask("...", model="ollama:llama3.2", k=6)`; options as for Pipeline."""
    return Pipeline(**options).ask(question)
