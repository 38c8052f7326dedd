"""LangChain both ways, against LangChain's own classes (langchain_core): promptkit collections
as a BaseRetriever and a VectorStore, promptkit embedders as Embeddings; LangChain retrievers,
vector stores (InMemoryVectorStore) and chat models (GenericFakeChatModel, FakeListChatModel)
inside a promptkit Pipeline; a user's own LCEL chain measured by the harness."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore, VectorStoreRetriever

from promptkit.errors import BackendError, UserError
from promptkit.integrations.langchain import (
    ChainAsker,
    LangChainChatModel,
    LangChainRetriever,
    PromptkitEmbeddings,
    PromptkitRetriever,
    PromptkitVectorStore,
    as_retriever,
    from_langchain,
)
from promptkit.pipeline import Pipeline
from promptkit.testing.fakes import FakeChatModel

TEXTS = ["BERT is an encoder-only transformer.",
         "GPT generates text with a decoder.",
         "Chroma stores embeddings in collections.",
         "Otters hold hands while they sleep."]
METAS = [{"source": f"doc{i}.md", "topic": t} for i, t in enumerate(["nlp", "nlp", "db", "zoo"])]


@pytest.fixture
def store(tmp_path) -> PromptkitVectorStore:
    """A promptkit collection (embedded Chroma under this test's PROMPTKIT_HOME) via from_texts."""
    return PromptkitVectorStore.from_texts(TEXTS, PromptkitEmbeddings("fake"), METAS,
                                           collection_name="lc-test")


@pytest.fixture
def lc_store() -> InMemoryVectorStore:
    """LangChain's own in-memory store, embedding with a promptkit embedder."""
    vs = InMemoryVectorStore(embedding=PromptkitEmbeddings("fake"))
    vs.add_texts(TEXTS, metadatas=METAS, ids=[f"d{i}" for i in range(len(TEXTS))])
    return vs


# ------------------------------------------------------------------ promptkit -> LangChain

def test_embeddings_work_inside_langchains_in_memory_store(lc_store):
    emb = PromptkitEmbeddings("fake")
    vectors = emb.embed_documents(TEXTS[:2])
    assert len(vectors) == 2 and len(vectors[0]) == emb.embedder.dim
    assert isinstance(emb.embed_query("x")[0], float)
    assert lc_store.similarity_search("Which transformer is encoder-only?", k=1)[0].id == "d0"


def test_collection_as_a_langchain_retriever(store):
    retriever = as_retriever(store.collection, k=2)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("Where are embeddings stored?")
    assert len(docs) == 2 and docs[0].page_content == TEXTS[2]
    assert docs[0].metadata["source"] == "doc2.md" and docs[0].metadata["rank"] == 1
    assert docs[0].id == docs[0].metadata["id"]
    batch = retriever.batch(["encoder-only transformer", "otters sleep"])
    assert [b[0].page_content for b in batch] == [TEXTS[0], TEXTS[3]]
    filtered = PromptkitRetriever(collection=store.collection, k=4,
                                  search_kwargs={"where": {"topic": "nlp"}})
    assert {d.metadata["topic"] for d in filtered.invoke("anything at all")} == {"nlp"}


def test_collection_as_a_langchain_vector_store(store):
    hits = store.similarity_search_with_score("encoder-only transformer", k=2)
    assert hits[0][0].page_content == TEXTS[0] and hits[0][1] > hits[1][1]
    # VectorStore's own conveniences, built on our methods:
    rel = store.similarity_search_with_relevance_scores("encoder-only transformer", k=1)
    assert rel[0][1] == pytest.approx(hits[0][1])
    lc_retriever = store.as_retriever(search_kwargs={"k": 1})
    assert isinstance(lc_retriever, VectorStoreRetriever)
    assert lc_retriever.invoke("otters hold hands")[0].page_content == TEXTS[3]
    mmr = store.max_marginal_relevance_search("transformer text", k=2, fetch_k=4)
    assert len(mmr) == 2
    assert [d.page_content for d in store.similarity_search("x", k=4, filter={"topic": "db"})] \
        == [TEXTS[2]]
    first = hits[0][0].id
    assert store.get_by_ids([first])[0].page_content == TEXTS[0]
    assert store.delete([first]) is True
    assert store.get_by_ids([first]) == []


def test_added_documents_reach_hybrid_search(store):
    """Adding bumps the collection's generation, so the BM25 index for hybrid search rebuilds."""
    assert store.similarity_search("zebras", k=1, hybrid=True)[0].page_content != "Zebras run."
    ids = store.add_documents([Document(page_content="Zebras run.",
                                        metadata={"source": "z.md", "tags": ["a", "b"]})])
    got = store.similarity_search("zebras", k=1, hybrid=True)
    assert got[0].id == ids[0] and got[0].metadata["tags"] == '["a", "b"]'   # JSON for Chroma
    assert store.collection.info()["generation"] >= 2


def test_from_texts_refuses_foreign_embeddings():
    from langchain_core.embeddings import DeterministicFakeEmbedding

    with pytest.raises(UserError, match="promptkit embedder"):
        PromptkitVectorStore.from_texts(["x"], DeterministicFakeEmbedding(size=8))


# ------------------------------------------------------------------ LangChain -> promptkit

def _pipe(collection, k=2, **kw):
    return Pipeline(model=FakeChatModel(default="It is an encoder [1]."), collection=collection,
                    k=k, max_tokens=32, **kw)


def test_langchain_vector_store_as_pipeline_retriever(lc_store):
    source = from_langchain(lc_store)
    assert isinstance(source, LangChainRetriever)
    answer = _pipe(source).ask("Which transformer is encoder-only?")
    retrieved = answer.trace["retrieval"]["retrieved"]
    assert retrieved[0]["id"] == "d0" and retrieved[0]["source"] == "doc0.md"
    assert retrieved[0]["score"] >= retrieved[1]["score"]
    assert answer.trace["retrieval"]["collection"] == "langchain:InMemoryVectorStore"
    assert answer.citations[0].id == "d0"
    assert len(_pipe(source, mmr=True).retrieve("transformer")) == 2
    # InMemoryVectorStore filters with a function of the Document: `where` is passed through.
    only_zoo = _pipe(source, where=lambda doc: doc.metadata["topic"] == "zoo")
    assert [c.id for c in only_zoo.retrieve("transformer")] == ["d3"]
    # It defines no relevance-score function: its raw cosine scores are recorded, and a
    # threshold on them is refused rather than guessed.
    with pytest.raises(UserError, match="no relevance scores"):
        _pipe(source, min_score=0.5).retrieve("transformer")
    with pytest.raises(UserError, match="hybrid"):
        _pipe(source, hybrid=True).retrieve("x")


def test_a_promptkit_store_comes_back_through_langchain(store):
    """Our VectorStore defines relevance scores (cosine), so thresholds work through it."""
    hits = from_langchain(store).search("encoder-only transformer", k=4, min_score=0.3)
    assert [h["text"] for h in hits] == [TEXTS[0]] and hits[0]["score"] > 0.3


def test_langchain_retriever_as_pipeline_retriever(lc_store):
    # search_kwargs say 1, the pipeline asks for 2: VectorStoreRetriever takes k per call.
    source = from_langchain(lc_store.as_retriever(search_kwargs={"k": 1}))
    assert len(_pipe(source).retrieve("transformer")) == 2

    class Fixed(BaseRetriever):
        def _get_relevant_documents(self, query, *, run_manager=None):
            return [Document(page_content=t, id=f"f{i}") for i, t in enumerate(TEXTS)]

    fixed = from_langchain(Fixed())
    assert [c.id for c in _pipe(fixed, k=3).retrieve("q")] == ["f0", "f1", "f2"]
    with pytest.raises(UserError, match="decides how to search"):
        _pipe(fixed, mmr=True).retrieve("q")


def test_langchain_chat_models_answer_in_a_pipeline(store):
    model = from_langchain(GenericFakeChatModel(
        messages=iter([AIMessage(content="BERT uses the encoder [1].")])))
    assert isinstance(model, LangChainChatModel)
    streamed: list[str] = []
    answer = Pipeline(model=model, collection=store.collection, k=2, max_tokens=32).ask(
        "Which transformer is encoder-only?", on_token=streamed.append)
    assert answer.text == "BERT uses the encoder [1]." and len(streamed) > 1   # it streamed
    assert answer.citations[0].source == "doc0.md"
    described = answer.trace["model"]
    assert described["spec"] == "langchain:GenericFakeChatModel"
    assert described["langchain_class"] == "GenericFakeChatModel"
    listed = LangChainChatModel(FakeListChatModel(responses=["first", "second"]), name="two")
    texts = [listed.generate([{"role": "user", "content": "hi"}]).text for _ in range(2)]
    assert texts == ["first", "second"] and listed.spec == "langchain:two"
    assert listed.count_tokens("one two three") >= 3     # an estimate; never loads a tokenizer


def test_a_failing_langchain_model_is_a_backend_error():
    class Broken(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "broken"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            raise ValueError("quota exceeded")

    with pytest.raises(BackendError, match="Broken.*quota exceeded"):
        LangChainChatModel(Broken()).generate([{"role": "user", "content": "hi"}])
    with pytest.raises(UserError, match="cannot use a str"):
        from_langchain("gpt-4o")


def test_a_users_own_chain_is_measured_by_the_harness(lc_store, tmp_path):
    """An LCEL RAG chain (LangChain retriever + LangChain chat model) scored by evaluate()."""
    import promptkit

    llm = FakeListChatModel(responses=["encoder-only", "a decoder", "hold hands"])
    retriever = lc_store.as_retriever(search_kwargs={"k": 2})

    def answer(inputs: dict) -> dict:
        context = "\n".join(d.page_content for d in inputs["context"])
        reply = llm.invoke(f"{context}\n\nQ: {inputs['question']}")
        return {"answer": reply, "context": inputs["context"]}

    chain = {"context": retriever, "question": RunnablePassthrough()} | RunnableLambda(answer)
    cases = [{"id": "c0", "question": "Which transformer is encoder-only?",
              "answers": ["encoder-only"], "gold_ids": ["d0"]},
             {"id": "c1", "question": "What generates text?", "answers": ["a decoder"],
              "gold_ids": ["d1"]},
             {"id": "c2", "question": "What do otters hold while they sleep?",
              "answers": ["hands"], "gold_ids": ["d3"]}]
    result = promptkit.evaluate(dataset=cases, metrics=["token_f1", "hit@2"],
                                pipeline=ChainAsker(chain), run_dir=tmp_path / "run")
    assert result.summary["complete"] and len(result.records) == 3
    assert result.records[0]["contexts"][0]["id"] == "d0"
    means = {name: m["mean"] for name, m in result.summary["metrics"].items()}
    assert means["hit@2"] == 1.0 and 0 < means["token_f1"] <= 1.0
    with pytest.raises(UserError, match="retrieves its own passages"):
        ChainAsker(chain).ask("q", contexts=["given"])
