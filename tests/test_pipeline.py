"""Pipeline logic with fakes: packing budget, orderings, citations, modes, trace, runnable."""

from __future__ import annotations

import json

import pytest

import promptkit
from promptkit.errors import UserError
from promptkit.pipeline import ContextChunk, Pipeline, pack
from promptkit.pipeline.answer import parse_citations
from promptkit.pipeline.pack import order_chunks
from promptkit.testing.fakes import FakeChatModel, FakeRetriever, FunctionChatModel, echo_last_user

PASSAGES = [
    ("paris.md", "Paris is the capital of France and its largest city."),
    ("berlin.md", "Berlin is the capital of Germany."),
    ("bert.md", "BERT is an encoder-only transformer pre-trained with masked language modelling."),
    ("rome.md", "Rome is the capital of Italy."),
]


def words(text: str) -> int:
    return len(text.split())


def chunks(n: int, size: int = 5) -> list[ContextChunk]:
    return [ContextChunk(id=f"c{r}", text=" ".join([f"w{r}"] * size), source=f"s{r}", rank=r)
            for r in range(1, n + 1)]


# --- packing ------------------------------------------------------------------------------

def test_pack_keeps_best_chunks_within_budget():
    # Each formatted chunk "[n] (sR) wR x5" is 7 words; separators "\n\n" count 0 words here.
    packing = pack(chunks(4), budget_tokens=15, count_tokens=words)
    assert [p.chunk.id for p in packing.chunks] == ["c1", "c2"]
    assert [c.id for c in packing.dropped] == ["c3", "c4"]
    assert packing.used_tokens <= 15
    assert packing.context.startswith("[1] (s1) w1 w1")


def test_pack_orders_and_numbers_by_prompt_position():
    ids = lambda order: [p.chunk.id for p in pack(chunks(5), budget_tokens=1000,  # noqa: E731
                                                   count_tokens=words, order=order).chunks]
    assert ids("ranked") == ["c1", "c2", "c3", "c4", "c5"]
    assert ids("reversed") == ["c5", "c4", "c3", "c2", "c1"]
    # Lost in the middle: the best at both ends, the weakest in the middle.
    assert ids("edges") == ["c1", "c3", "c5", "c4", "c2"]
    packing = pack(chunks(3), budget_tokens=1000, count_tokens=words, order="reversed")
    assert [p.number for p in packing.chunks] == [1, 2, 3]
    assert packing.context.splitlines()[0].startswith("[1] (s3)")


def test_order_chunks_rejects_unknown_order():
    with pytest.raises(UserError, match="unknown context order 'middle'"):
        order_chunks([], "middle")


def test_pack_truncates_an_oversized_best_chunk():
    big = [ContextChunk(id="big", text=" ".join(["word"] * 100), source="s", rank=1)]
    packing = pack(big, budget_tokens=20, count_tokens=words)
    assert len(packing.chunks) == 1 and packing.chunks[0].truncated
    assert packing.used_tokens <= 20 and packing.context.endswith("…")


def test_citations_only_point_at_passages_shown():
    packing = pack(chunks(3), budget_tokens=1000, count_tokens=words)
    cites = parse_citations("Yes [2]. Also [1, 3] and [2] again, not [7] or [0].", packing)
    assert [(c.number, c.id, c.source) for c in cites] == [(2, "c2", "s2"), (1, "c1", "s1"),
                                                            (3, "c3", "s3")]


# --- the pipeline -------------------------------------------------------------------------

def test_rag_answer_with_citations_and_trace():
    retriever = FakeRetriever(PASSAGES)
    model = FakeChatModel(["Paris is the capital of France [1]."])
    pipe = Pipeline(model=model, collection=retriever, k=3)
    answer = pipe.ask("What is the capital of France?")
    assert answer.text == "Paris is the capital of France [1]."
    assert [(c.number, c.source) for c in answer.citations] == [(1, "paris.md")]
    assert answer.sources == ["paris.md"]
    assert retriever.queries == [("What is the capital of France?",
                                  {"k": 3, "mmr": False, "hybrid": False, "where": None,
                                   "min_score": None})]
    user = model.last_call.user_text
    assert "[1] (paris.md) Paris is the capital of France" in user
    assert "What is the capital of France?" in user
    trace = answer.trace
    assert trace["prompt"]["name"] == "rag-answer" and trace["prompt"]["hash"].startswith("sha256:")
    assert trace["prompt"]["ref"] == pipe.prompt.ref
    assert trace["messages"] == model.last_call.messages
    assert [h["position"] for h in trace["retrieval"]["packed"]] == [1, 2, 3]
    assert trace["retrieval"]["packed"][0]["id"] == answer.citations[0].id
    assert trace["model"]["spec"] == "fake:scripted"
    assert trace["model"]["params"]["max_tokens"] == pipe.params.max_tokens
    assert trace["usage"]["completion_tokens"] > 0
    assert set(trace["latency"]) >= {"retrieve_s", "generate_s", "total_s"}
    assert trace["cache_hit"] is False
    json.dumps(answer.to_dict())  # serialisable as is


def test_context_is_packed_into_the_model_window():
    long_passages = [(f"d{i}.md", " ".join([f"fact{i}"] * 60)) for i in range(8)]
    model = FunctionChatModel(echo_last_user, context_window=400)
    pipe = Pipeline(model=model, collection=FakeRetriever(long_passages), k=8, max_tokens=64)
    answer = pipe.ask("Which facts?")
    trace = answer.trace
    assert 0 < len(trace["retrieval"]["packed"]) < 8
    assert trace["retrieval"]["dropped"]
    assert model.count_message_tokens(trace["messages"]) + 64 <= 400
    assert trace["context"]["used_tokens"] <= trace["context"]["budget_tokens"]
    assert trace["context"]["exact_counts"] is True   # the fake counts with its own tokenizer


def test_no_room_for_context_is_a_user_error():
    model = FakeChatModel(default="x", context_window=100)
    pipe = Pipeline(model=model, collection=FakeRetriever(PASSAGES), max_tokens=90)
    with pytest.raises(UserError, match="no room for context"):
        pipe.ask("What is BERT?")


def test_closed_book_does_not_retrieve():
    retriever = FakeRetriever(PASSAGES)
    model = FunctionChatModel(echo_last_user)
    answer = Pipeline(model=model, collection=retriever, mode="closed-book").ask("What is BERT?")
    assert retriever.queries == []
    assert answer.trace["prompt"]["name"] == "closed-book"
    assert answer.trace["retrieval"] is None and answer.citations == []
    assert "Context" not in model.last_call.user_text


def test_oracle_uses_given_contexts():
    retriever = FakeRetriever(PASSAGES)
    model = FakeChatModel(default="It is an encoder [1].")
    pipe = Pipeline(model=model, collection=retriever, mode="oracle")
    answer = pipe.ask("What is BERT?", contexts=["BERT is an encoder.",
                                                 {"id": "x2", "text": "GPT is a decoder.",
                                                  "source": "gpt.md"}])
    assert retriever.queries == []
    assert answer.trace["mode"] == "oracle"
    assert "[2] (gpt.md) GPT is a decoder." in model.last_call.user_text
    assert answer.citations[0].id.startswith("ctx-")
    with pytest.raises(UserError, match="oracle mode needs the passages"):
        pipe.ask("What is BERT?")


def test_edges_order_reaches_the_prompt():
    model = FunctionChatModel(echo_last_user)
    texts = [f"passage number {i}" for i in range(1, 6)]
    answer = Pipeline(model=model, collection=FakeRetriever([]), order="edges",
                      mode="oracle").ask("q?", contexts=texts)
    shown = [line for line in model.last_call.user_text.splitlines() if line.startswith("[")]
    assert [line.rsplit(" ", 1)[1] for line in shown] == ["1", "3", "5", "4", "2"]
    assert [h["rank"] for h in answer.trace["retrieval"]["packed"]] == [1, 3, 5, 4, 2]


def test_prompt_that_does_not_fit_the_mode_is_refused():
    with pytest.raises(UserError, match="closed-book mode"):
        Pipeline(prompt="rag-answer@production", model="fake:x", mode="closed-book")
    with pytest.raises(UserError, match="rag mode"):
        Pipeline(prompt="closed-book@production", model="fake:x", mode="rag")


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "open-book"}, "unknown pipeline mode"),
    ({"order": "middle"}, "unknown context order"),
    ({"k": 0}, "k must be at least 1"),
])
def test_bad_settings_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        Pipeline(model="fake:x", **kwargs)


def test_empty_question_is_refused():
    with pytest.raises(UserError, match="question is empty"):
        Pipeline(model="fake:x", collection=FakeRetriever(PASSAGES)).ask("  ")


def test_streaming_and_cache_hit_in_trace(tmp_path):
    from promptkit.llm.cache import ResponseCache

    model = FakeChatModel(["Berlin [1]."])
    model.cache = ResponseCache(tmp_path / "c.sqlite", "read-write")
    pipe = Pipeline(model=model, collection=FakeRetriever(PASSAGES))
    pieces: list[str] = []
    first = pipe.ask("Capital of Germany?", on_token=pieces.append)
    second = pipe.ask("Capital of Germany?")
    assert "".join(pieces) == first.text == second.text
    assert not first.cache_hit and second.cache_hit and len(model.calls) == 1


def test_langchain_runnable_and_top_level_ask():
    pipe = Pipeline(model=FakeChatModel(default="Rome [1]."), collection=FakeRetriever(PASSAGES))
    runnable = pipe.as_runnable()
    assert runnable.invoke("Capital of Italy?").citations[0].source == "rome.md"
    batch = runnable.batch([{"question": "Capital of Italy?"}, "Capital of France?"])
    assert [a.text for a in batch] == ["Rome [1].", "Rome [1]."]
    with pytest.raises(UserError, match="takes a question"):
        runnable.invoke(42)
    answer = promptkit.ask("Capital of Italy?", model=FakeChatModel(default="Rome."),
                           collection=FakeRetriever(PASSAGES), k=2)
    assert isinstance(answer, promptkit.Answer) and answer.text == "Rome."


def test_a_pipeline_from_settings_models():
    """The settings models every file extends map onto Pipeline arguments in one place;
    explicit options win."""
    from promptkit.pipeline import Pipeline
    from promptkit.settings import GenerationSettings, RetrievalSettings

    pipe = Pipeline.from_settings(
        RetrievalSettings(k=6, order="edges", mmr=True), GenerationSettings(max_tokens=12),
        None, prompt="rag-answer@production", model="fake:echo", collection="nowhere", k=3)
    assert (pipe.k, pipe.order, pipe.mmr, pipe.params.max_tokens) == (3, "edges", True, 12)
