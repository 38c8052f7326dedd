"""Comparing runs by case id, the Python API and the `promptkit eval` commands."""

from __future__ import annotations

import json

import pytest

import promptkit.evaluation.api as api
from promptkit.cli import run as cli
from promptkit.errors import NotFoundError
from promptkit.evaluation.config import config_from_dict
from promptkit.evaluation.runner import run_eval
from tests.test_eval_runner import ScriptedPipeline, write_dataset

N = 40


def _replies(correct: set[int]) -> dict:
    return {f"q{i}": (f"answer to q{i}" if i in correct else "no idea") for i in range(N)}


@pytest.fixture
def two_runs(tmp_path):
    """References of c000, c003, ... never match; B fixes several of A's misses, breaks c001."""
    ds = write_dataset(tmp_path / "qa.jsonl", N)
    a_ok = set(range(0, N, 3)) | {1, 2}                 # c000, c003, ... plus c001, c002
    b_ok = (a_ok - {1}) | set(range(4, 40, 2))
    runs = []
    for label, ok in (("a", a_ok), ("b", b_ok)):
        cfg = config_from_dict({"name": label, "dataset": {"path": str(ds)},
                                "metrics": ["exact_match", "token_f1", "latency"],
                                "pipeline": {"prompt": f"rag-answer@{1 if label == 'a' else 2}"}})
        runs.append(run_eval(cfg, run_dir=tmp_path / label,
                             pipeline=ScriptedPipeline(_replies(ok))))
    return runs


def test_compare_gives_verdict_flipped_cases_and_changed_settings(two_runs):
    a, b = two_runs
    cmp = api.compare(a.run_dir, b.run_dir)
    em = next(m for m in cmp.metrics if m.metric == "exact_match").result
    assert em.binary and em.test == "exact McNemar" and em.verdict == "better"
    assert sorted(em.losses) == ["c001"] and len(em.wins) > 5 and em.p_value < 0.05
    assert em.n == N and em.delta == pytest.approx(em.mean_b - em.mean_a)
    f1 = next(m for m in cmp.metrics if m.metric == "token_f1")
    assert not f1.result.binary and f1.result.test == "Wilcoxon signed-rank" and f1.changes
    lat = next(m for m in cmp.metrics if m.metric == "latency").result
    assert lat.higher_is_better is False   # same latency everywhere: no difference
    assert lat.verdict == "no significant difference"
    assert cmp.changed_settings == {"pipeline.prompt": ("rag-answer@1", "rag-answer@2")}
    assert cmp.warnings == []

    reverse = api.compare(b.run_dir, a.run_dir)
    assert next(m for m in reverse.metrics if m.metric == "exact_match").result.verdict == "worse"


def test_identical_runs_show_no_difference_and_a_power_note(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 8)
    for label in ("a", "b"):
        cfg = config_from_dict({"name": label, "dataset": {"path": str(ds)},
                                "metrics": ["exact_match"]})
        run_eval(cfg, run_dir=tmp_path / label, pipeline=ScriptedPipeline())
    cmp = api.compare(tmp_path / "a", tmp_path / "b")
    (em,) = cmp.metrics
    assert em.result.verdict == "no significant difference" and em.result.p_value == 1.0
    assert em.result.note  # too few discordant cases to detect anything: the note says so


def test_runs_resolve_by_id_under_the_runs_dir_and_unknown_ids_suggest(two_runs, monkeypatch):
    a, b = two_runs
    monkeypatch.setenv("PROMPTKIT_RUNS_DIR", str(a.run_dir.parent))
    cmp = api.compare("a", "b")
    assert cmp.a.id == "a"
    with pytest.raises(NotFoundError, match="did you mean"):
        api.compare("aa", "b")


def test_cli_compare_markdown_and_json(two_runs, capsys):
    a, b = two_runs
    assert cli(["eval", "compare", str(a.run_dir), str(b.run_dir)]) == 0
    out = capsys.readouterr().out
    assert "| exact_match |" in out and "**better**" in out and "fixed by B" in out
    assert "`pipeline.prompt`: rag-answer@1 → rag-answer@2" in out
    assert cli(["eval", "compare", str(a.run_dir), str(b.run_dir), "--json", "--alpha", "0.01",
                "-m", "exact_match"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["alpha"] == 0.01 and [m["metric"] for m in data["metrics"]] == ["exact_match"]
    assert data["metrics"][0]["result"]["verdict"] == "better"


def test_cli_report_markdown_and_html(two_runs, tmp_path, capsys):
    a, b = two_runs
    html = tmp_path / "r.html"
    assert cli(["eval", "report", str(a.run_dir), "--compare", str(b.run_dir),
                "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "# Evaluation run `a`" in out and "| exact_match |" in out and "B `b` vs A `a`" in out
    page = html.read_text()
    assert page.count('src="data:image/png;base64,') >= 3 and "<details>" in page


def test_cli_run_end_to_end_with_a_bad_config_and_missing_run(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("name: x\ndataset: {path: qa.jsonl}\nmetrics: [token_f1]\nrepeat: 2\n")
    assert cli(["eval", "run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "repeat" in err
    assert cli(["eval", "report", str(tmp_path / "nothing-here")]) == 2
    assert "unknown run" in capsys.readouterr().err


def test_api_evaluate_from_records_and_from_a_config(tmp_path):
    records = [{"id": "x", "question": "q0", "answers": ["answer to q0"]},
               {"id": "y", "question": "q1", "answers": ["nope"]},
               {"id": "x", "question": "dup", "answers": []}]
    res = api.evaluate(dataset=records, metrics=["exact_match"], pipeline=ScriptedPipeline(),
                       run_dir=tmp_path / "mem", prompt="rag-answer@2")
    assert res.summary["metrics"]["exact_match"]["mean"] == 0.5
    assert len(res.bad_records) == 1 and "duplicate id" in res.bad_records[0].reason
    with pytest.raises(TypeError, match="unknown pipeline setting"):
        api.evaluate(dataset=records, pipeline=ScriptedPipeline(), top_k=3)
    md = api.report(res.run_dir)
    assert "| exact_match | 0.500 |" in md


def test_cli_run_with_fake_model_then_a_dead_server_says_how_to_resume(tmp_path, capsys):
    ds = write_dataset(tmp_path / "qa.jsonl", 3)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: cli\ndataset: {{path: {ds.name}}}\n"
                   "pipeline: {prompt: closed-book@1, mode: closed-book,\n"
                   "           model: 'fake:answer to q1'}\n"
                   "metrics: [exact_match]\ncache_mode: 'off'\n")
    assert cli(["eval", "run", str(cfg), "--run-dir", str(tmp_path / "ok")]) == 0
    captured = capsys.readouterr()
    assert "| exact_match | 0.333 |" in captured.out and "run folder:" in captured.err

    with __import__("socket").socket() as s:   # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg.write_text(cfg.read_text().replace("'fake:answer to q1'",
                                           f"'openai:m@http://127.0.0.1:{port}/v1'"))
    assert cli(["eval", "run", str(cfg), "--run-dir", str(tmp_path / "dead")]) == 1
    err = capsys.readouterr().err
    assert "cannot reach" in err and "0 of 3 case runs are saved" in err
    assert f"promptkit eval run {cfg} --run-dir {tmp_path / 'dead'}" in err
