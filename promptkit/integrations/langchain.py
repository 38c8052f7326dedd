"""LangChain both ways.

promptkit -> LangChain:
    as_retriever(collection, k=4)       a `BaseRetriever` over a promptkit collection
    PromptkitVectorStore(collection)    a `VectorStore` (add, search with scores, MMR, delete)
    PromptkitEmbeddings(embedder)       a promptkit embedder as LangChain `Embeddings`
    Pipeline.as_runnable()              the whole pipeline as a Runnable (in promptkit.pipeline)

LangChain -> promptkit:
    from_langchain(obj)                 a retriever or vector store becomes a Pipeline
                                        `collection`; a chat model becomes a promptkit ChatModel
    ChainAsker(chain)                   any Runnable (a user's own RAG chain) measured by the
                                        harness: `promptkit.evaluate(..., pipeline=ChainAsker(c))`

Only `langchain_core` is needed (a promptkit dependency); it is imported when this module is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict

from promptkit.errors import BackendError, UserError
from promptkit.llm.base import ChatModel, Chunk, GenParams, Message

# ------------------------------------------------------------------ promptkit -> LangChain


class PromptkitEmbeddings(Embeddings):
    """A promptkit `Embedder` (or a registry name such as "minilm"; by default MiniLM,
    `embedders.FAST`) as LangChain `Embeddings`."""

    def __init__(self, embedder=None):
        from promptkit.embedders import FAST, get_embedder

        self.embedder = get_embedder(embedder or FAST)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [v.tolist() for v in self.embedder.embed_documents(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()


def _document(hit) -> Document:
    meta = {**dict(hit.metadata), "id": hit.id, "source": hit.source, "score": hit.score,
            "rank": hit.rank}
    return Document(page_content=hit.text, metadata=meta, id=hit.id)


class PromptkitRetriever(BaseRetriever):
    """A promptkit collection (or anything with `.search`) as a LangChain retriever.

    `search_kwargs` go to `Collection.search` (mmr, hybrid, where, min_score, ...).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    collection: Any
    k: int = 4
    search_kwargs: dict = {}

    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        return [_document(h) for h in self.collection.search(query, k=self.k,
                                                             **self.search_kwargs)]


def as_retriever(collection, k: int = 4, **search_kwargs) -> PromptkitRetriever:
    """`collection` (a name or a Collection) as a LangChain retriever returning `k` documents."""
    if isinstance(collection, str):
        from promptkit.store import open_collection

        collection = open_collection(collection, create=False)
    return PromptkitRetriever(collection=collection, k=k, search_kwargs=search_kwargs)


def _chroma_value(value):
    # Chroma keeps scalars only; anything else is stored as its JSON text.
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


class PromptkitVectorStore(VectorStore):
    """A promptkit collection as a LangChain `VectorStore`.

    Vectors come from the collection's own embedder (the one it records), so documents added
    here and files ingested with `promptkit ingest` are searched alike. Scores are cosine
    similarities, which are already relevance scores.
    """

    def __init__(self, collection):
        self.collection = collection

    @property
    def embeddings(self) -> Embeddings:
        return PromptkitEmbeddings(self.collection.embedder)

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                  ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        from promptkit.corpus.chunking import chunk_id
        from promptkit.store.collection import META_GENERATION, backend_errors
        from promptkit.store.lock import writer_lock

        texts = list(texts)
        metas = [dict(m or {}) for m in (metadatas or [{}] * len(texts))]
        if len(metas) != len(texts) or (ids is not None and len(ids) != len(texts)):
            raise UserError("add_texts needs one metadata dict and one id per text")
        rows = []
        for i, (text, meta) in enumerate(zip(texts, metas, strict=True)):
            meta = {k: _chroma_value(v) for k, v in meta.items() if v is not None}
            meta.setdefault("source", "langchain")
            rows.append((ids[i] if ids else chunk_id(str(meta["source"]), text), text, meta))
        if not rows:
            return []
        coll = self.collection
        vectors = coll.embedder.embed_documents([r[1] for r in rows])
        with writer_lock(coll.location, coll.name), backend_errors(coll.location):
            coll.chroma.upsert(ids=[r[0] for r in rows], embeddings=vectors,
                               documents=[r[1] for r in rows], metadatas=[r[2] for r in rows])
            # The generation tells cached indexes (BM25 for hybrid search) to rebuild.
            coll.update_recorded(**{META_GENERATION: int(coll.recorded.get(META_GENERATION, 0))
                                    + 1})
        return [r[0] for r in rows]

    def similarity_search_with_score(self, query: str, k: int = 4, filter: dict | None = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        hits = self.collection.search(query, k=k, where=filter, **kwargs)
        return [(_document(h), h.score) for h in hits]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k=k, **kwargs)]

    def _select_relevance_score_fn(self):
        return lambda score: score

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20,
                                      lambda_mult: float = 0.5, filter: dict | None = None,
                                      **kwargs: Any) -> list[Document]:
        hits = self.collection.search(query, k=k, mmr=True, fetch_k=fetch_k,
                                      mmr_lambda=lambda_mult, where=filter, **kwargs)
        return [_document(h) for h in hits]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        from promptkit.store.collection import backend_errors

        if not ids:
            return None
        with backend_errors(self.collection.location):
            self.collection.chroma.delete(ids=list(ids))
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [_document(h) for h in self.collection.get(list(ids))]

    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings | None = None,
                   metadatas: list[dict] | None = None, *, ids: list[str] | None = None,
                   collection_name: str = "langchain", chroma_url: str | None = None,
                   **kwargs: Any) -> PromptkitVectorStore:
        """A collection named `collection_name` holding `texts` (created if needed)."""
        from promptkit.store import open_collection

        if embedding is not None and not isinstance(embedding, PromptkitEmbeddings):
            raise UserError(f"a promptkit collection embeds with a promptkit embedder, not "
                            f"{type(embedding).__name__}",
                            hint='Pass PromptkitEmbeddings("minilm") (or another promptkit '
                                 "embedder name), or none for the default.")
        embedder = embedding.embedder if embedding is not None else None
        store = cls(open_collection(collection_name, embedder=embedder, chroma_url=chroma_url))
        store.add_texts(texts, metadatas, ids=ids)
        return store


# ------------------------------------------------------------------ LangChain -> promptkit


def _hit_dict(doc: Document, rank: int, score: float | None) -> dict:
    meta = dict(doc.metadata or {})
    if score is None:
        score = meta.get("score", meta.get("relevance_score"))
    return {"id": str(doc.id or meta.get("id") or ""), "text": doc.page_content,
            "source": str(meta.get("source", "")), "rank": rank,
            "score": float(score) if isinstance(score, int | float) else None, "metadata": meta}


class LangChainRetriever:
    """A LangChain retriever or vector store as a promptkit Pipeline `collection`."""

    embedder = None     # few-shot semantic selection needs a promptkit embedder: none here

    def __init__(self, source: BaseRetriever | VectorStore):
        self.source = source
        self.name = f"langchain:{type(source).__name__}"

    def search(self, query: str, k: int = 4, *, mmr: bool = False, hybrid: bool = False,
               where: dict | None = None, min_score: float | None = None) -> list[dict]:
        if hybrid:
            raise UserError(f"{self.name} does its own search; promptkit's hybrid mode needs "
                            "a promptkit collection", hint="Drop hybrid=True.")
        if isinstance(self.source, VectorStore):
            return self._store_search(query, k, mmr, where, min_score)
        if mmr or where or min_score is not None:
            raise UserError(f"{self.name} is a retriever: it decides how to search (mmr, where "
                            "and min_score are not passed to it)",
                            hint="Configure the LangChain retriever itself, or wrap its vector "
                                 "store instead.")
        # `k` reaches retrievers that take search arguments (VectorStoreRetriever); the list is
        # cut to k for those that do not.
        docs = self.source.invoke(query, k=k)[:k]
        return [_hit_dict(d, rank, None) for rank, d in enumerate(docs, start=1)]

    def _store_search(self, query, k, mmr, where, min_score) -> list[dict]:
        extra = {"filter": where} if where is not None else {}
        if mmr:
            docs = self.source.max_marginal_relevance_search(query, k=k,
                                                             fetch_k=max(4 * k, 20), **extra)
            pairs = [(d, None) for d in docs]
        else:
            pairs = self._scored(query, k, extra, min_score)
        return [_hit_dict(d, rank, s) for rank, (d, s) in enumerate(pairs, start=1)]

    def _scored(self, query, k, extra, min_score) -> list[tuple[Document, float | None]]:
        """Relevance scores (0-1) where the store defines them, else its raw scores, else none."""
        store = self.source
        try:
            threshold = {} if min_score is None else {"score_threshold": min_score}
            return store.similarity_search_with_relevance_scores(query, k=k, **extra,
                                                                 **threshold)
        except NotImplementedError:
            pass
        if min_score is not None:
            raise UserError(f"{self.name} defines no relevance scores, so min_score cannot be "
                            "applied", hint="Drop min_score, or filter in the vector store.")
        try:
            # The store's own scale (similarity or distance): recorded, not compared.
            return store.similarity_search_with_score(query, k=k, **extra)
        except NotImplementedError:
            return [(d, None) for d in store.similarity_search(query, k=k, **extra)]


_ROLE_TO_MESSAGE = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}


def _text(content) -> str:
    if isinstance(content, str):
        return content
    # Content blocks (multimodal models): keep the text parts.
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part)
                   for part in content or [])


def _safe_params(model: BaseChatModel) -> dict:
    try:
        params = dict(model._identifying_params)
    except (AttributeError, TypeError, ValueError):
        return {}
    secret = ("key", "token", "secret", "password", "auth")
    return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool)
            and not any(s in k.lower() for s in secret)}


class LangChainChatModel(ChatModel):
    """A LangChain chat model as a promptkit `ChatModel` (cache, trace and harness included).

    Generation settings are the LangChain model's own (temperature, max tokens are set when it
    is built); only stop sequences are passed per call. Token counts are promptkit's
    conservative estimate unless `count_tokens` is given (LangChain's default counter loads a
    GPT-2 tokenizer from the Hub).
    """

    backend = "langchain"
    exact_token_count = False
    retries = 0          # LangChain models retry by their own settings (max_retries)
    timeout_s = None

    def __init__(self, model: BaseChatModel, *, context_window: int = 8192,
                 count_tokens=None, name: str | None = None):
        self.lc = model
        label = name or getattr(model, "model_name", None) or getattr(model, "model", None)
        self.spec = f"langchain:{label if isinstance(label, str) else type(model).__name__}"
        self.context_window = context_window
        self._count = count_tokens

    def describe(self) -> dict:
        return {**super().describe(), "langchain_class": type(self.lc).__name__,
                "langchain_params": _safe_params(self.lc)}

    def count_tokens(self, text: str) -> int:
        if self._count is not None:
            return int(self._count(text))
        from promptkit.llm.openai_backend import estimate_tokens

        return estimate_tokens(text)

    def _stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        lc_messages = [_ROLE_TO_MESSAGE[m["role"]](content=m["content"]) for m in messages]
        kwargs = {"stop": list(params.stop)} if params.stop else {}
        try:
            for part in self.lc.stream(lc_messages, **kwargs):
                usage = getattr(part, "usage_metadata", None) or {}
                finish = (getattr(part, "response_metadata", None) or {}).get("finish_reason")
                yield Chunk(text=_text(part.content), prompt_tokens=usage.get("input_tokens"),
                            completion_tokens=usage.get("output_tokens"), finish_reason=finish)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - any provider's error is this backend's failure
            raise BackendError(f"{self.spec} ({type(self.lc).__name__}) failed: "
                               f"{type(exc).__name__}: {exc}", backend="langchain") from exc


def from_langchain(obj, **options):
    """A LangChain retriever or vector store -> Pipeline collection; chat model -> ChatModel."""
    if isinstance(obj, BaseChatModel):
        return LangChainChatModel(obj, **options)
    if isinstance(obj, BaseRetriever | VectorStore):
        if options:
            raise TypeError(f"from_langchain({type(obj).__name__}) takes no options")
        return LangChainRetriever(obj)
    raise UserError(f"cannot use a {type(obj).__name__} here",
                    hint="Pass a LangChain BaseRetriever, VectorStore or BaseChatModel.")


class ChainAsker:
    """A LangChain Runnable (a user's own RAG chain) as something the harness can evaluate.

    The chain is invoked with the question (or `{input_key: question}`); its output is the
    answer text, a message, or a dict holding the answer under `answer_key` and the retrieved
    Documents under `context_key`, which the retrieval metrics then score.
    """

    def __init__(self, chain, *, input_key: str | None = None, answer_key: str = "answer",
                 context_key: str = "context"):
        self.chain, self.input_key = chain, input_key
        self.answer_key, self.context_key = answer_key, context_key

    def ask(self, question: str, *, contexts: list | None = None):
        from promptkit.pipeline import Answer

        if contexts is not None:
            raise UserError("a LangChain chain retrieves its own passages; this dataset gives "
                            "passages with its cases", hint="Evaluate it on a dataset without "
                                                            "contexts (questions and answers).")
        t0 = time.perf_counter()
        out = self.chain.invoke({self.input_key: question} if self.input_key else question)
        text, docs = self._unpack(out)
        retrieved = [{**_hit_dict(d, rank, None), "position": rank}
                     for rank, d in enumerate(docs, start=1)]
        trace = {"mode": "langchain", "question": question,
                 "chain": type(self.chain).__name__, "retrieved": retrieved,
                 "latency": {"total_s": round(time.perf_counter() - t0, 6)}}
        return Answer(question=question, text=text, trace=trace)

    def _unpack(self, out) -> tuple[str, list[Document]]:
        if isinstance(out, str):
            return out, []
        if isinstance(out, BaseMessage):
            return _text(out.content), []
        if isinstance(out, dict) and self.answer_key in out:
            answer = out[self.answer_key]
            docs = [d for d in out.get(self.context_key) or [] if isinstance(d, Document)]
            return (_text(answer.content) if isinstance(answer, BaseMessage) else str(answer)), docs
        raise UserError(f"the chain returned {type(out).__name__}; expected text, a message, or "
                        f"a dict with '{self.answer_key}'",
                        hint="Set answer_key= (and context_key=) to the chain's output keys.")


__all__ = ["ChainAsker", "LangChainChatModel", "LangChainRetriever", "PromptkitEmbeddings",
           "PromptkitRetriever", "PromptkitVectorStore", "as_retriever", "from_langchain"]
