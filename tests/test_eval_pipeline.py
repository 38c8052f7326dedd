"""The runner driving the real `Pipeline` (fake model and retriever from promptkit.testing)."""

from __future__ import annotations

import json
import time
from collections import Counter

from promptkit.evaluation.config import config_from_dict
from promptkit.evaluation.runner import run_eval
from promptkit.pipeline import Pipeline
from promptkit.testing.fakes import FakeRetriever, FunctionChatModel

PASSAGES = [("bert.md", "BERT is an encoder trained with masked language modelling."),
            ("gpt.md", "GPT is a decoder trained to predict the next token."),
            ("rag.md", "Retrieval augmented generation adds passages to the prompt.")]


def answering_model(delay: float = 0.0) -> FunctionChatModel:
    """Replies with the first passage's text it was shown, and the seed it sampled with."""
    def reply(messages, params):
        time.sleep(delay)
        user = messages[-1]["content"]
        first = user.split("[1] ", 1)[1].split("\n", 1)[0] if "[1] " in user else "no context"
        return f"{first} (seed {params.seed})"
    return FunctionChatModel(reply)


def write_qa(path, n=4):
    rows = [{"id": f"c{i}", "question": q, "answers": [a], "gold_docs": [doc]}
            for i, (q, a, doc) in enumerate([("What is BERT?", "an encoder", "bert.md"),
                                             ("What does GPT predict?", "next token", "gpt.md"),
                                             ("What adds passages to the prompt?",
                                              "retrieval augmented generation", "rag.md"),
                                             ("Who wrote BERT?", "Google", "bert.md")][:n])]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def pipeline(delay=0.0, **kw) -> Pipeline:
    return Pipeline(prompt="rag-answer@2", model=answering_model(delay),
                    collection=FakeRetriever(PASSAGES), k=2, **kw)


def test_real_pipeline_records_packed_contexts_trace_and_doc_level_retrieval(tmp_path):
    ds = write_qa(tmp_path / "qa.jsonl")
    cfg = config_from_dict({"name": "p", "dataset": {"path": str(ds)}, "repeats": 2, "seed": 7,
                            "metrics": ["contains_any", "hit@1", "mrr",
                                        {"name": "latency", "options": {"key": "latency.total_s"}},
                                        {"name": "tokens", "options": {"prefix": "usage."}}]})
    result = run_eval(cfg, run_dir=tmp_path / "run", pipeline=pipeline())
    assert Counter((r["id"], r["repeat"]) for r in result.records) == Counter(
        {(f"c{i}", r): 1 for i in range(4) for r in range(2)})
    rec = result.records[0]
    assert rec["contexts"][0]["position"] == 1 and rec["contexts"][0]["text"].startswith("BERT is")
    assert rec["trace"]["prompt"]["ref"] == "rag-answer@2" and rec["trace"]["messages"]
    # Repeat r samples with seed + r, so repeats are real repeats.
    seeds = {(r["repeat"], r["answer"].rsplit("seed ", 1)[1]) for r in result.records}
    assert seeds == {(0, "7)"), (1, "8)")}
    # Gold is given as file names: chunk sources are matched by name.
    hit = {r["id"]: r["scores"]["hit@1"]["value"] for r in result.records}
    assert hit["c0"] == 1.0 and hit["c1"] == 1.0
    assert result.summary["metrics"]["latency"]["outcomes"]["ok"] == 8
    assert result.summary["metrics"]["tokens"]["outcomes"]["ok"] == 8
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert list(manifest["prompts"]) == ["rag-answer@2"]
    assert len(manifest["prompts"]["rag-answer@2"]) >= 12


def test_cases_with_their_own_passages_skip_retrieval(tmp_path):
    rows = [{"id": "x", "question": "What is BERT?", "answers": ["encoder"],
             "gold_ids": ["p2"], "contexts": [{"id": "p1", "text": "Unrelated text."},
                                              {"id": "p2", "text": "BERT is an encoder."}]}]
    ds = tmp_path / "qa.jsonl"
    ds.write_text(json.dumps(rows[0]) + "\n")
    retriever = FakeRetriever(PASSAGES)
    p = Pipeline(prompt="rag-answer@2", model=answering_model(), collection=retriever, k=2)
    cfg = config_from_dict({"name": "o", "dataset": {"path": str(ds)}, "metrics": ["hit@2"]})
    result = run_eval(cfg, run_dir=tmp_path / "run", pipeline=p)
    (rec,) = result.records
    assert retriever.queries == [] and rec["trace"]["mode"] == "oracle"
    assert [c["id"] for c in rec["contexts"]] == ["p1", "p2"]
    assert rec["scores"]["hit@2"]["value"] == 1.0


def test_http_backend_failing_mid_run_keeps_finished_cases_then_resumes(tmp_path, fault_server):
    """A real OpenAI-compatible HTTP server on loopback answers 3 requests, then fails."""
    import pytest

    from promptkit.errors import BackendError
    from promptkit.llm.openai_backend import OpenAIModel

    ds = write_qa(tmp_path / "qa.jsonl")
    cfg = config_from_dict({"name": "http", "dataset": {"path": str(ds)},
                            "metrics": ["contains_any"], "cache_mode": "off"})
    dying = fault_server(("ok", "an encoder"), ("ok", "next token"),
                         ("ok", "retrieval augmented generation"), 500)
    model = OpenAIModel("m", base_url=dying.url, retries=0)
    pipe = Pipeline(prompt="rag-answer@2", model=model, collection=FakeRetriever(PASSAGES), k=2)
    with pytest.raises(BackendError) as err:
        run_eval(cfg, run_dir=tmp_path / "run", pipeline=pipe)
    assert "3 of 4 case runs are saved" in err.value.hint
    dying.stop()  # the server is gone now: connection refused
    gone = Pipeline(prompt="rag-answer@2", model=OpenAIModel("m", base_url=dying.url, retries=0),
                    collection=FakeRetriever(PASSAGES), k=2)
    with pytest.raises(BackendError):
        run_eval(cfg, run_dir=tmp_path / "run", pipeline=gone)

    back = fault_server(("ok", "Google"))
    pipe = Pipeline(prompt="rag-answer@2", model=OpenAIModel("m", base_url=back.url, retries=0),
                    collection=FakeRetriever(PASSAGES), k=2)
    result = run_eval(cfg, run_dir=tmp_path / "run", pipeline=pipe)
    assert back.hits == 1 and [r["id"] for r in result.records] == ["c0", "c1", "c2", "c3"]
    assert [r["scores"]["contains_any"]["value"] for r in result.records] == [1.0, 1.0, 1.0, 1.0]
