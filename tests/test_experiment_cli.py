"""`promptkit experiment run | report` end to end (fake model spec in the YAML), and one real run
of the position experiment on Lost in the Middle data with the packaged SmolLM2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from promptkit.cli import run
from tests.test_experiments import _dataset


@pytest.fixture
def config(tmp_path):
    data = _dataset(tmp_path / "qa.jsonl")
    path = tmp_path / "position.yaml"
    path.write_text(f"""\
name: cli-position
kind: position
model: "fake:echo"
params: {{max_tokens: 8}}
data:
  path: {data.name}       # relative to this file
position:
  n_docs: 3
""", encoding="utf-8")
    return path


def test_run_then_report(config, tmp_path, capsys):
    run_dir = tmp_path / "exp"
    assert run(["experiment", "run", str(config), "--run-dir", str(run_dir), "--limit", "2",
                "-q"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [c["cases"] for c in summary["cells"]] == [2] * 5   # 3 positions + 2 baselines
    report = (run_dir / "report.md").read_text()
    assert f"promptkit experiment run {config} --limit 2 --run-dir {run_dir}" in report
    assert "fake:echo" in report

    (run_dir / "report.md").unlink()
    assert run(["experiment", "report", str(run_dir)]) == 0
    assert "Accuracy by position" in capsys.readouterr().out
    assert (run_dir / "report.md").is_file()


def test_bad_config_exits_2_naming_the_field(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nkind: position\ndata: {path: q.jsonl}\nposition: {n_dox: 3}\n")
    assert run(["experiment", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "position.n_dox" in err and str(path) in err


def test_unknown_run_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PROMPTKIT_RUNS_DIR", str(tmp_path / "runs"))
    assert run(["experiment", "report", "no-such-run"]) == 2
    assert "unknown experiment run" in capsys.readouterr().err


def test_the_cli_does_not_import_experiment_machinery():
    code = ("import sys, promptkit.cli; "
            "print([m for m in ('promptkit.experiments.runner', 'matplotlib', 'numpy') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "promptkit.experiments.runner" not in out.stdout and "matplotlib" not in out.stdout


@pytest.mark.slow
def test_position_on_lost_in_the_middle_with_smollm2(shared_data, smollm2, tmp_path):
    from promptkit.experiments import run_experiment

    litm = (shared_data / "lost_in_the_middle" / "qa_20docs_subset441" /
            "nq-open-20_total_documents_gold_at_0.subset441.jsonl.gz")
    cfg = {"name": "litm-real", "kind": "position", "model": "llamacpp:smollm2-135m",
           "params": {"max_tokens": 8}, "cache_mode": "off",
           "data": {"path": str(litm), "limit": 1, "passage_tokens": 32},
           "position": {"n_docs": 3, "positions": [0, 2], "closed_book": False}}
    result = run_experiment(cfg, tmp_path / "run", model=smollm2)

    assert result.summary["complete"]
    for p in (0, 2):
        cases = result.run_dir / "cells" / f"gold-at-{p}" / "cases.jsonl"
        for line in cases.read_text().splitlines():
            rec = json.loads(line)
            packed = rec["contexts"]
            assert [c["position"] for c in packed if c["id"] in rec["gold_ids"]] == [p + 1]
            assert len(packed) == 3 and not any(c["truncated"] for c in packed)
            assert rec["trace"]["usage"]["prompt_tokens"] <= smollm2.context_window
            assert rec["answer"].strip()
    rows = result.summary["analysis"]["positions"]
    assert [r["n"] for r in rows] == [1, 1] and all(0 <= r["mean"] <= 1 for r in rows)
    assert (result.run_dir / "figure.png").is_file()


def test_plan_counts_calls_sizes_contrasts_and_runs_nothing(config, tmp_path, capsys):
    run_dir = tmp_path / "exp"
    assert run(["experiment", "run", str(config), "--run-dir", str(run_dir), "--plan"]) == 0
    out = capsys.readouterr().out
    assert not run_dir.exists()                       # planning creates no run folder
    assert "model calls to make: 30" in out           # 5 cells x 6 cases
    assert "calibration: 3 call(s) timed" in out and "estimated wall time:" in out
    # Two contrasts (positions 2 and 3 against 1) at alpha 0.05/2 on 6 questions.
    assert "2 in the family" in out and out.count("n=6") == 2
    assert "none at this size" in out                 # 6 questions detect nothing
    assert "25% of questions scored differently" in out

    assert run(["experiment", "run", str(config), "--run-dir", str(run_dir), "--limit", "2",
                "-q"]) == 0
    capsys.readouterr()
    assert run(["experiment", "run", str(config), "--run-dir", str(run_dir), "--plan",
                "--calibrate", "0"]) == 0
    out = capsys.readouterr().out
    assert "model calls to make: 20" in out           # 2 of 6 per cell are in the folder
    assert "not calibrated" in out


def test_plan_detectable_effect_shrinks_with_size():
    from promptkit.evaluation.stats import _mcnemar_cases_needed, detectable_effect

    small = detectable_effect(100, alpha=0.05 / 4, discordant=0.25)
    large = detectable_effect(400, alpha=0.05 / 4, discordant=0.25)
    assert 0 < large < small < 0.25
    # At the detectable effect the McNemar sample size formula gives back n.
    assert _mcnemar_cases_needed(small, 0.25, 0.05 / 4) == pytest.approx(100, abs=0.5)
    assert detectable_effect(100, alpha=0.05, sd=0.3) == pytest.approx(
        (1.959964 + 0.841621) * 0.3 / 10, abs=1e-4)
    assert detectable_effect(5, alpha=0.05, discordant=0.25) is None


def test_plan_refuses_a_folder_of_other_settings_and_writes_nothing(config, tmp_path, capsys):
    run_dir = tmp_path / "exp"
    assert run(["experiment", "run", str(config), "--run-dir", str(run_dir), "--limit", "2",
                "-q"]) == 0
    before = sorted(str(p.relative_to(run_dir)) + str(p.stat().st_mtime_ns)
                    for p in run_dir.rglob("*"))
    other = config.with_name("other.yaml")
    other.write_text(config.read_text().replace("n_docs: 3", "n_docs: 4"), encoding="utf-8")
    assert run(["experiment", "run", str(other), "--run-dir", str(run_dir), "--plan"]) == 2
    assert "different settings" in capsys.readouterr().err
    assert run(["experiment", "run", str(config), "--run-dir", str(run_dir), "--plan"]) == 0
    after = sorted(str(p.relative_to(run_dir)) + str(p.stat().st_mtime_ns)
                   for p in run_dir.rglob("*"))
    assert after == before          # planning read the folder and left it as it was


def test_calibration_times_each_call_from_scratch(tmp_path):
    """A model keeping its prefix would make calibration calls look cheap: it is off while
    they are timed, and back on for the run."""
    from promptkit.experiments.planning import plan_experiment
    from promptkit.testing.fakes import FunctionChatModel

    seen = []
    model = FunctionChatModel(lambda messages, params: seen.append(model.reuse_prefix) or "x")
    model.reuse_prefix = True
    data = _dataset(tmp_path / "qa.jsonl")
    plan_experiment({"name": "p", "kind": "position", "data": {"path": str(data)},
                     "position": {"n_docs": 3}}, calibrate=2, model=model)
    assert seen == [False, False] and model.reuse_prefix is True
