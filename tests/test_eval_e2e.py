"""End to end on the real default model: `eval run` then `eval report`, tiny data, short answers."""

from __future__ import annotations

import json

import pytest

from promptkit.cli import run as cli

CONTEXT = ("BERT was released by Google in 2018. It is an encoder-only transformer "
           "pre-trained with masked language modelling.")


@pytest.mark.slow
def test_eval_run_and_report_with_the_packaged_model(tmp_path, capsys, smollm2_gguf):
    rows = [
        {"id": "en-1", "question": "Which company released BERT?", "answers": ["Google"],
         "gold_ids": ["p1"], "contexts": [{"id": "p1", "text": CONTEXT}], "language": "en"},
        {"id": "es-1", "question": "¿En qué año se publicó BERT?", "answers": ["2018"],
         "gold_ids": ["p1"], "contexts": [{"id": "p1", "text": CONTEXT}], "language": "es"},
    ]
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
                                       + "\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text(
        "name: e2e\ndataset: {path: qa.jsonl}\n"
        "pipeline: {prompt: rag-answer@2, model: llamacpp:smollm2-135m, max_tokens: 24}\n"
        "metrics: [contains_any, token_f1_multi, hit@1,\n"
        "          tokens]\n"
        "cache_mode: 'off'\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    assert cli(["eval", "run", str(tmp_path / "c.yaml"), "--run-dir", str(run_dir)]) == 0
    records = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["en-1", "es-1"]
    for rec in records:
        assert rec["answer"].strip()
        assert rec["trace"]["model"]["spec"] == "llamacpp:smollm2-135m"
        assert 0 < rec["trace"]["usage"]["completion_tokens"] <= 24
        assert rec["scores"]["hit@1"]["value"] == 1.0
        assert rec["scores"]["contains_any"]["outcome"] == "ok"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] and summary["metrics"]["tokens"]["mean"] > 20
    capsys.readouterr()

    # Finished: a second run asks nothing and the report reads the same folder.
    assert cli(["eval", "run", str(tmp_path / "c.yaml"), "--run-dir", str(run_dir)]) == 0
    assert "resuming" in capsys.readouterr().err
    assert len((run_dir / "cases.jsonl").read_text().splitlines()) == 2
    assert cli(["eval", "report", str(run_dir), "--html", str(tmp_path / "r.html")]) == 0
    assert "contains_any" in capsys.readouterr().out and (tmp_path / "r.html").stat().st_size > 5000
