"""End to end: real Chroma collection (default embedder) + real SmolLM2 in llama.cpp."""

from __future__ import annotations

import json

import pytest

from promptkit.pipeline import Pipeline

pytestmark = pytest.mark.slow

DOCS = {
    "bert.md": "# BERT\n\nBERT is an encoder-only transformer from Google (2018). It is "
               "pre-trained with masked language modelling and next sentence prediction.",
    "paris.md": "# Paris\n\nParis is the capital and largest city of France, on the Seine.",
    "lstm.md": "# LSTM\n\nLong short-term memory networks are recurrent networks with gates "
               "that keep information over long sequences.",
}


@pytest.fixture
def small_collection(tmp_path):
    from promptkit.store import open_collection

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    collection = open_collection("e2e-small")
    report = collection.ingest([corpus])
    assert report.added == collection.count() >= 3
    return collection


def test_rag_answer_from_real_collection_and_model(small_collection, smollm2):
    # k=1: SmolLM2-135M is easily distracted by a second, unrelated passage (it then talks
    # about that one), which is a finding for the experiments, not something to test here.
    # rag-answer@2: the production @3 carries worked examples the 135M model copies verbatim;
    # this test is about the pipeline around a real model, not about the prompt.
    pipe = Pipeline(model=smollm2, collection=small_collection, k=1, max_tokens=32,
                    prompt="rag-answer@2")
    answer = pipe.ask("What is the capital of France?")
    again = pipe.ask("What is the capital of France?")
    trace = answer.trace
    assert answer.text.strip() and again.text == answer.text  # reset per call: reproducible
    assert "Paris" in answer.text
    packed = trace["retrieval"]["packed"]
    assert packed[0]["source"].endswith("paris.md") and packed[0]["position"] == 1
    assert "[1] (paris.md) # Paris" in trace["messages"][-1]["content"]
    assert len(trace["retrieval"]["retrieved"]) == 1
    assert trace["usage"]["prompt_tokens"] == smollm2.count_message_tokens(trace["messages"])
    assert 0 < trace["usage"]["completion_tokens"] <= 32
    assert trace["model"]["spec"] == "llamacpp:smollm2-135m"
    assert trace["retrieval"]["collection"] == "e2e-small"
    for citation in answer.citations:  # whatever the small model cites must exist
        assert citation.id in {p["id"] for p in packed}
    json.dumps(answer.to_dict())
