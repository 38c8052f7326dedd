"""Dataset loaders: project JSONL (precise bad-line reports), SQuAD, Lost in the Middle, BEIR."""

from __future__ import annotations

import gzip
import json

import pytest

from promptkit.errors import ConfigError, UserError
from promptkit.evaluation.datasets import PROJECT_DATASETS_DIR, load_dataset


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_good_records_load_with_doc_level_gold(tmp_path):
    p = _write_lines(tmp_path / "qa.jsonl", [
        json.dumps({"id": "a", "question": "¿Qué es BERT?", "answers": ["un codificador"],
                    "gold_docs": ["bert.md"], "language": "es", "metadata": {"topic": "bert"}}),
        "",
        json.dumps({"id": "b", "question": "What is k?", "answers": ["4"], "gold_ids": ["c1"],
                    "contexts": ["plain text", {"id": "x", "title": "T", "text": "t"}]}),
    ])
    ds = load_dataset(p)
    assert ds.errors == []
    a, b = ds.cases
    assert a.gold_ids == ["bert.md"] and a.metadata == {"topic": "bert", "language": "es",
                                                         "gold_level": "doc"}
    assert b.gold_ids == ["c1"]
    assert b.contexts[0] == {"id": "b:ctx0", "title": "", "text": "plain text"}
    assert b.contexts[1]["id"] == "x"
    assert len(ds.content_hash) == 64


def test_jsonl_bad_lines_are_reported_with_line_numbers_and_reasons(tmp_path):
    p = _write_lines(tmp_path / "bad.jsonl", [
        json.dumps({"id": "ok1", "question": "q", "answers": ["a"]}),            # 1
        '{"id": "broken", "question": ',                                          # 2
        json.dumps({"id": "nq", "answers": ["a"]}),                               # 3
        json.dumps({"id": "t", "question": "q", "answers": "a"}),                 # 4
        json.dumps({"id": "ok1", "question": "q2", "answers": ["b"]}),            # 5
        json.dumps({"id": "u", "question": "q", "answers": ["a"], "anwsers": []}),  # 6
        json.dumps(["not", "an", "object"]),                                      # 7
        json.dumps({"id": 3, "question": "q", "answers": []}),                    # 8
    ])
    ds = load_dataset(p)
    assert [c.id for c in ds.cases] == ["ok1"]
    by_line = {e.line: e.reason for e in ds.errors}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8]
    assert "invalid JSON" in by_line[2]
    assert "missing field 'question'" in by_line[3]
    assert "'answers' must be a list" in by_line[4]
    assert "duplicate id 'ok1' (first at line 1)" in by_line[5]
    assert "unknown field 'anwsers'" in by_line[6] and "did you mean 'answers'" in by_line[6]
    assert "expected a JSON object" in by_line[7]
    assert "'id' must be a string" in by_line[8]
    assert f"{p}:line 2:" in ds.error_report()


def test_bad_records_stop_with_a_config_error_naming_the_file(tmp_path):
    p = _write_lines(tmp_path / "bad.jsonl", ['{"id": "x"', json.dumps({"id": "y", "question": "q",
                                                                          "answers": []})])
    ds = load_dataset(p)
    with pytest.raises(ConfigError) as err:
        ds.raise_on_errors()
    assert str(p) in err.value.message and "line 1" in err.value.message
    assert "--on-bad-lines skip" in err.value.hint


def test_invalid_utf8_line_is_one_bad_record(tmp_path):
    p = tmp_path / "enc.jsonl"
    p.write_bytes(b'{"id": "a", "question": "q", "answers": []}\n{"id": "\xff"}\n')
    ds = load_dataset(p)
    assert [c.id for c in ds.cases] == ["a"] and ds.errors[0].line == 2


def test_missing_file_and_unknown_loader_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="dataset not found"):
        load_dataset(tmp_path / "nope.jsonl")
    (tmp_path / "x.jsonl").write_text("")
    with pytest.raises(ConfigError, match="unknown dataset loader"):
        load_dataset(tmp_path / "x.jsonl", loader="csv")


def test_squad_format_with_xquad_style_spanish(tmp_path):
    doc = {"version": "1.0", "data": [{"title": "Física", "paragraphs": [{
        "context": "La atención permite al modelo mirar todas las palabras.",
        "qas": [
            {"id": "q1", "question": "¿Qué permite la atención?",
             "answers": [{"text": "mirar todas las palabras", "answer_start": 25},
                         {"text": "mirar todas las palabras", "answer_start": 25},
                         {"text": "todas las palabras", "answer_start": 31}]},
            {"id": "q2", "question": "sin respuesta", "answers": []},
            {"id": "q1", "question": "dup", "answers": [{"text": "x"}]},
        ]}]}]}
    p = tmp_path / "xquad.es.json"
    p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    ds = load_dataset(p)
    assert ds.format == "squad"
    (case,) = ds.cases
    assert case.answers == ["mirar todas las palabras", "todas las palabras"]
    assert case.contexts[0]["text"].startswith("La atención")
    assert case.gold_ids == [case.contexts[0]["id"]]
    assert [e.where for e in ds.errors] == ["data[0].paragraphs[0].qas[1]",
                                            "data[0].paragraphs[0].qas[2]"]
    bad = tmp_path / "broken.json"
    bad.write_text('{"data": [')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_dataset(bad)


def test_litm_records_from_a_gzip_file(tmp_path):
    p = tmp_path / "mini.jsonl.gz"
    rec = {"question": "who", "answers": ["A", "B"], "ctxs": [
        {"id": "11", "title": "t1", "text": "x", "isgold": False},
        {"title": "gold", "text": "A did it", "isgold": True, "hasanswer": True}]}
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n" + '{"question": 1}\n')
    ds = load_dataset(p)
    (case,) = ds.cases
    assert case.id == "q0000" and case.answers == ["A", "B"]
    assert case.gold_ids == ["q0000:gold"] and case.metadata["gold_position"] == 1
    assert [c["id"] for c in case.contexts] == ["11", "q0000:gold"]
    assert ds.errors[0].line == 2


def test_real_lost_in_the_middle_file(shared_data):
    base = shared_data / "lost_in_the_middle" / "qa_20docs_subset441"
    ds = load_dataset(base / "nq-open-20_total_documents_gold_at_9.subset441.jsonl.gz", limit=5)
    assert ds.errors == [] and len(ds) == 5
    for case in ds.cases:
        assert len(case.contexts) == 20 and case.metadata["gold_position"] == 9
        assert case.contexts[9]["id"] in case.gold_ids
    first = load_dataset(f"litm:{base / 'nq-open-20_total_documents_gold_at_0.subset441.jsonl.gz'}",
                         limit=1).cases[0]
    # Same question, same id in every gold-position file: runs pair up case by case.
    assert first.id == ds.cases[0].id and first.question == ds.cases[0].question


def test_real_beir_scifact(shared_data):
    ds = load_dataset(shared_data / "beir_scifact")
    assert ds.format == "beir" and ds.errors == []
    assert len(ds) == 300  # the test split judges 300 queries
    case = next(c for c in ds.cases if c.id == "1")
    assert case.gold_ids == ["31715818"] and case.metadata["qrels"] == {"31715818": 1}


def test_project_demo_dataset_loads_cleanly():
    path = PROJECT_DATASETS_DIR / "demo-qa.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not written yet")
    ds = load_dataset(path)
    assert ds.errors == [], ds.error_report()
    assert len(ds) >= 40
    assert {c.metadata.get("language") for c in ds.cases} >= {"es", "en"}
    assert all(c.answers and c.gold_ids for c in ds.cases)


def test_one_beir_reader_two_policies_for_bad_lines(tmp_path):
    """The harness skips a bad judgment line and reports it; the retrieval benchmark stops."""
    from promptkit.retrieval import beir

    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "x"}) + "\n")
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": f"question {q}"})
                                                + "\n" for q in ("q1", "q2")))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\n"
                                             "q2\td1\tlots\nq3\td1\t1\n")
    ds = load_dataset(root)
    assert [(c.id, c.gold_ids, c.metadata["qrels"]) for c in ds.cases] == \
        [("q1", ["d1"], {"d1": 2})]
    assert [str(e) for e in ds.errors] == [
        f"{root / 'qrels' / 'test.tsv'}:line 3: score 'lots' is not a number",
        f"{root / 'qrels' / 'test.tsv'}:?: query 'q3' has judgments but no text"]
    with pytest.raises(ConfigError, match=r"test.tsv:3: field 'score'"):
        beir.load(root)


def test_beir_questions_without_a_corpus_keep_every_judged_query(tmp_path):
    """The harness reads queries and judgments only: no corpus.jsonl needed, and a query whose
    judgments are all 0 is still a case (with no gold), its grades kept as written."""
    from promptkit.retrieval import beir

    root = tmp_path / "qonly"
    (root / "qrels").mkdir(parents=True)
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": f"question {q}"})
                                                + "\n" for q in ("q1", "q2")))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n"
                                             "q1\td2\t0\nq2\td3\t0\n")
    ds = load_dataset(root)
    assert ds.errors == []
    assert [(c.id, c.gold_ids, c.metadata["qrels"]) for c in ds.cases] == \
        [("q1", ["d1"], {"d1": 1, "d2": 0}), ("q2", [], {"d3": 0})]
    with pytest.raises(UserError, match="corpus.jsonl is missing"):
        beir.load(root)            # ranking a corpus needs one
