"""`promptkit eval synth`: questions from a corpus, filtered, resumable, in the dataset format."""

from __future__ import annotations

import json
import re

import pytest

from promptkit.cli import run
from promptkit.evaluation.datasets import load_dataset
from promptkit.evaluation.synth import (
    gives_away,
    load_chunks,
    spread,
    synthesize,
    verbatim_span,
)
from promptkit.testing.fakes import FunctionChatModel

DOCS = {
    "bert.en.md": "# BERT\n\nBERT was released by Google in 2018. It has 110 million parameters "
                  "and reads text in both directions.\n",
    "gpt.en.md": "# GPT\n\nGPT was introduced by OpenAI in June 2018. It predicts the next token "
                 "from the tokens on its left.\n",
    "rag.es.md": "# RAG\n\nLa generación aumentada por recuperación fue propuesta por Lewis y "
                 "otros en 2020. Combina un recuperador con un generador.\n",
}


def corpus(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def question_writer(messages, params):
    """Writes one good question per passage plus one of each kind the filters remove."""
    user = messages[-1]["content"]
    passage = user.split(":\n", 1)[1]
    title = re.search(r"from (.+?)\):", user).group(1)
    year = re.search(r"\b(19|20)\d\d\b", passage).group(0)
    spanish = "español" in messages[0]["content"]
    good = (f"¿En qué año se menciona {title} en el texto?" if spanish
            else f"In which year was {title} first described?")
    return json.dumps({"items": [
        {"question": good, "answer": year},
        {"question": f"In which year, {year} or later, was {title} described?", "answer": year},
        {"question": f"Who wrote the original {title} description?", "answer": "Alan Turing"},
        {"question": good[:-1] + (" exactamente?" if spanish else " exactly?"), "answer": year},
        {"question": "What year?", "answer": year},
    ]})


def writer(**kw):
    return FunctionChatModel(question_writer, spec="fake:writer", can_constrain=True, **kw)


def test_filters():
    assert verbatim_span("released  by\nGoogle", "BERT was Released by Google.") == \
        "Released by Google"
    assert verbatim_span("Goog", "by Google") is None   # not inside a word
    assert gives_away("When was BERT released by Google?", "Google")
    assert gives_away("¿Cuándo se lanzó BERT?", "bert")
    assert not gives_away("Who released BERT?", "Google")


def test_chunks_are_spread_over_documents(tmp_path):
    chunks, _ = load_chunks(corpus(tmp_path), chunk_tokens=16)
    assert {c.language for c in chunks} == {"en", "es"}
    order = [c.doc for c in spread(chunks)]
    assert len(set(order[:3])) == 3   # the first three chunks come from three documents
    assert spread(chunks, seed=0) == spread(chunks, seed=0)


def test_synth_keeps_good_questions_and_counts_what_each_filter_removed(tmp_path):
    out = tmp_path / "set.jsonl"
    summary = synthesize(corpus(tmp_path), 10, out, model=writer())
    data = summary.to_dict()
    assert data["kept"] == 3 and data["documents"] == 3 and data["chunks_done"] == 3
    assert data["removed"] == {"unparsable": 0, "malformed": 1 * 3, "answer_too_long": 0,
                               "not_verbatim": 3, "answer_in_question": 3, "duplicate": 3,
                               "roundtrip": 0}
    assert data["candidates"] == 15
    ds = load_dataset(out)
    assert not ds.errors and len(ds.cases) == 3
    case = next(c for c in ds.cases if c.metadata.get("language") == "es")
    assert case.question.startswith("¿En qué año") and case.answers == ["2020"]
    assert case.gold_ids == ["rag.es.md"] and case.metadata["gold_level"] == "doc"
    assert case.metadata["synth"]["prompt"].startswith("synth-questions@1#")
    assert case.metadata["synth"]["constrained"]


def test_synth_stops_at_n_and_resumes_where_it_stopped(tmp_path):
    folder, out = corpus(tmp_path), tmp_path / "set.jsonl"
    model = writer()
    first = synthesize(folder, 1, out, model=model)
    assert first.kept == 1 and first.chunks_done == 1 and len(model.calls) == 1
    second = synthesize(folder, 3, out, model=model)
    assert second.resumed_kept == 1 and second.kept == 3 and len(model.calls) == 3
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 3
    # nothing left to do: no model call, same file
    third = synthesize(folder, 3, out, model=model)
    assert third.kept == 3 and len(model.calls) == 3
    assert third.to_dict()["removed"] == second.to_dict()["removed"]   # read back from the log
    assert third.candidates == second.candidates


def test_lang_and_roundtrip(tmp_path):
    folder = corpus(tmp_path)
    es = synthesize(folder, 10, tmp_path / "es.jsonl", model=writer(), lang="es")
    assert es.kept == 1 and es.chunks_total == 1
    # k=1 BM25: "In which year was GPT first described?" finds gpt.en.md; the Spanish question
    # names the title "RAG" only, which the Spanish chunk holds, so every good one survives.
    kept = synthesize(folder, 10, tmp_path / "rt.jsonl", model=writer(), roundtrip_k=1)
    assert kept.kept + kept.removed["roundtrip"] == 3


def test_cli(tmp_path, capsys):
    reply = json.dumps({"items": [{"question": "Which company released BERT in 2018?",
                                   "answer": "Google"}]})
    code = run(["eval", "synth", str(corpus(tmp_path)), "-n", "5", "-o",
                str(tmp_path / "set.jsonl"), "--model", f"fake:{reply}", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out)
    # Only bert.en.md holds "Google"; the other chunks' copies are not verbatim there.
    assert summary["kept"] == 1 and summary["removed"]["not_verbatim"] == 2


@pytest.mark.slow
def test_a_real_run_with_the_small_packaged_model(tmp_path, smollm2_gguf):
    """SmolLM2 on 3 chunks: whatever it writes, the run completes and the books balance."""
    out = tmp_path / "set.jsonl"
    summary = synthesize(corpus(tmp_path), 50, out, model="llamacpp:smollm2-135m", per_chunk=1)
    data = summary.to_dict()
    assert data["chunks_done"] == 3 and data["chunks_total"] == 3
    assert data["kept"] + sum(data["removed"].values()) - data["removed"]["unparsable"] \
        <= data["candidates"]
    ds = load_dataset(out)
    assert not ds.errors and len(ds.cases) == data["kept"]
    for case in ds.cases:
        chunk_text = DOCS[case.gold_ids[0]]
        assert case.answers[0] in chunk_text and case.answers[0].lower() not in \
            case.question.lower()
