"""Retrieval vs reader in every RAG run's summary and reports, beside the grounding metrics."""

from __future__ import annotations

import json

import pytest

from promptkit.evaluation.api import report
from promptkit.evaluation.breakdown import retrieval_vs_reader
from promptkit.evaluation.config import config_from_dict
from promptkit.evaluation.runner import run_eval
from promptkit.pipeline import Pipeline
from promptkit.testing.fakes import FakeRetriever, FunctionChatModel
from tests.test_report_html import _chromium, _render


def rec(id_, answer, passages, answers=("2018",), gold=("bert.md",), correct=None,
        mode="rag"):
    scores = {} if correct is None else {
        "contains_any": {"value": float(correct), "outcome": "ok", "detail": {}}}
    return {"id": id_, "repeat": 0, "answer": answer, "answers": list(answers),
            "gold_ids": list(gold), "trace": {"mode": mode}, "scores": scores,
            "contexts": [{"id": f"{id_}-{i}", "source": f"/d/{src}", "text": text}
                         for i, (src, text) in enumerate(passages)]}


GOLD = ("bert.md", "BERT appeared in 2018.")
NOISE = ("gpt.md", "GPT predicts the next token.")
OFF_GOLD = ("bert.md", "BERT has 110M parameters.")   # gold document, no answer in it


def test_wrong_answers_are_split_by_whether_evidence_was_retrieved():
    records = [rec("ok", "2018", [GOLD], correct=True),
               rec("reader", "2019", [NOISE, GOLD], correct=False),
               rec("retrieval", "2019", [NOISE, OFF_GOLD], correct=False),
               rec("lucky", "2018", [NOISE], correct=True)]
    b = retrieval_vs_reader(records, ["contains_any"])
    assert b["table"] == {"correct": {"retrieved": 1, "missed": 1},
                          "wrong": {"retrieved": 1, "missed": 1}}
    assert b["reader_error_ids"] == ["reader"] and b["retrieval_error_ids"] == ["retrieval"]
    assert b["retrieval_share"] == 0.5 and b["correct_by"] == "contains_any"


def test_without_an_answer_metric_the_reference_is_matched_in_the_answer():
    b = retrieval_vs_reader([rec("a", "It was 2018.", [GOLD]), rec("b", "No idea", [GOLD])])
    assert b["correct_by"] == "reference answer in the answer"
    assert b["table"]["correct"]["retrieved"] == 1 and b["reader_errors"] == 1


def test_no_breakdown_without_retrieval():
    assert retrieval_vs_reader([rec("a", "x", [GOLD], mode="closed-book")]) is None
    assert retrieval_vs_reader([rec("a", "x", [GOLD], mode="oracle")]) is None
    assert retrieval_vs_reader([]) is None


PASSAGES = [("bert.md", "BERT was released by Google in 2018."),
            ("gpt.md", "GPT was released by OpenAI in 2018 and predicts the next token."),
            ("t5.md", "T5 casts every task as text to text.")]
QA = [("When was BERT released?", "2018", "bert.md"),
      ("Which company released GPT?", "OpenAI", "gpt.md"),
      ("What does T5 cast every task as?", "text to text", "t5.md")]


@pytest.fixture
def rag_run(tmp_path):
    ds = tmp_path / "qa.jsonl"
    ds.write_text("".join(json.dumps({"id": f"c{i}", "question": q, "answers": [a],
                                      "gold_docs": [d]}) + "\n"
                          for i, (q, a, d) in enumerate(QA)))
    # Always answers with the second passage's sentence, cited: right for c0 (GPT's passage
    # says 2018 too), wrong for c1 (GPT's passage came first: a reader error) and c2 (T5's
    # was not retrieved: a retrieval error).
    model = FunctionChatModel(lambda m, p: m[-1]["content"].split("[2] ", 1)[1]
                              .split("\n", 1)[0].split(") ", 1)[1].rstrip(".") + " [2].")
    retriever = FakeRetriever(PASSAGES[:2] + [("t5.md", "Unrelated text about cats.")])
    pipe = Pipeline(prompt="rag-answer@3", model=model, collection=retriever, k=2)
    verdict = json.dumps({"verdicts": [{"claim": 1, "quote": "GPT was released by OpenAI in "
                                        "2018 and predicts the next token.",
                                        "verdict": "supported"}]})
    cfg = config_from_dict({"name": "rag", "dataset": {"path": str(ds)}, "metrics": [
        "contains_any", "context_precision", "context_recall",
        {"name": "citation_recall", "options": {"support": "lexical"}},
        {"name": "faithfulness", "options": {"judge": f"fake:{verdict}",
                                             "claims": "sentences"}}]})
    return run_eval(cfg, run_dir=tmp_path / "run", pipeline=pipe)


def test_rag_runs_report_the_breakdown_and_grounding_metrics(rag_run, tmp_path):
    b = rag_run.summary["breakdown"]
    assert b["reader_error_ids"] == ["c1"] and b["retrieval_error_ids"] == ["c2"]
    metrics = rag_run.summary["metrics"]
    assert metrics["faithfulness"]["mean"] == 1.0
    assert metrics["context_recall"]["mean"] == pytest.approx(2 / 3)
    rec0 = rag_run.records[0]
    assert rec0["scores"]["faithfulness"]["detail"]["claims"][0]["verdict"] == "supported"
    page = tmp_path / "report.html"
    text = report(rag_run.run_dir, html=page)
    assert "## Retrieval vs reader" in text
    assert "| wrong | 1 (reader) | 1 (retrieval) |" in text
    assert "| faithfulness | 1.000 |" in text and "| context_precision |" in text
    html = page.read_text(encoding="utf-8")
    assert "Retrieval vs reader" in html and "<code>c1</code>" in html
    assert "faithfulness: claims" in html


@pytest.mark.slow
def test_breakdown_renders_in_headless_chromium(rag_run, tmp_path):
    chromium = _chromium()
    page = tmp_path / "report.html"
    report(rag_run.run_dir, html=page)
    rendered, total, dom = _render(chromium, page, tmp_path)
    assert rendered == total >= 1
    assert 'id="retrieval-vs-reader"' in dom and "1 (reader)" in dom
    assert "faithfulness: claims" in dom
