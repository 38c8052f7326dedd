"""`promptkit test`: its options map onto the plugin's, and exit codes follow pytest's outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from promptkit.cli.test_cmd import pytest_args
from promptkit.errors import UserError

SUITE = """\
name: cli
prompts: [rag-answer@2]
model: fake:echo
cases:
  - id: ok
    question: Who wrote the first program?
    context: ["Ada Lovelace wrote the first program."]
    answers: [Lovelace]
    assert: [{type: icontains-any}]
"""


def test_options_become_plugin_arguments(tmp_path):
    suite = tmp_path / "s.suite.yaml"
    suite.write_text(SUITE)
    args = pytest_args([suite], mode="replay", prompts=["a@1", "a@2"], bless=True, repeats=3,
                       select="ok", report=tmp_path / "r.json", verbose=2, extra=["-x"],
                       junit_xml=tmp_path / "j.xml", summary_md=tmp_path / "s.md",
                       run_dir=tmp_path / "runs")
    assert args == [str(suite), f"--promptkit-suite={suite}", "--promptkit-mode=replay",
                    "--promptkit-prompt=a@1", "--promptkit-prompt=a@2", "--promptkit-bless",
                    "--promptkit-repeats=3", "-k", "ok",
                    f"--promptkit-report={tmp_path / 'r.json'}",
                    f"--junit-xml={tmp_path / 'j.xml'}",
                    f"--promptkit-summary-md={tmp_path / 's.md'}",
                    f"--promptkit-run-dir={tmp_path / 'runs'}", "-vv", "-x"]
    with pytest.raises(UserError, match="suite path not found"):
        pytest_args([tmp_path / "nope.yaml"], mode=None, prompts=[], bless=False, repeats=None,
                     select=None, report=None, verbose=0, extra=[])


def promptkit(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTEST_ADDOPTS": "-p no:cacheprovider"}
    return subprocess.run([sys.executable, "-m", "promptkit", "test", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_exit_codes_and_the_summary_table(tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "cli.yaml").write_text(SUITE)
    ok = promptkit(tmp_path, "suites/cli.yaml", "--mode", "off")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "cli    rag-answer@2  off   1      1       0" in ok.stdout
    (suites / "cli.yaml").write_text(SUITE.replace("answers: [Lovelace]", "answers: [Babbage]"))
    failing = promptkit(tmp_path, "suites", "--mode", "off", "--junit-xml", "junit.xml",
                        "--summary-md", "summary.md")
    assert failing.returncode == 1
    assert "FAIL  icontains-any ['Babbage']: none found" in failing.stdout
    assert '<testcase classname="suites.cli.yaml" name="ok"' in (tmp_path / "junit.xml").read_text()
    assert "❌ failed (exit code 1)" in (tmp_path / "summary.md").read_text()


TWO_CASES = """\
name: folder
prompts: [rag-answer@2]
model: fake:echo
cases:
  - id: ada
    question: Who wrote the first program?
    context: ["Ada Lovelace wrote the first program."]
    answers: [Lovelace]
    assert: [{type: icontains-any}, {type: length, max: 400}]
  - id: moon
    question: Who walked on the moon first?
    context: ["Neil Armstrong walked on the moon first."]
    answers: [Gagarin]
    assert: [{type: icontains-any}]
"""


def test_a_suite_run_is_an_evaluation_run_the_harness_reports_and_compares(tmp_path, capsys):
    """`--run-dir`: each suite x prompt version becomes a run folder whose metrics are the
    assertions (binary, Wilson intervals), `pass` and `score`; `eval report` and `eval compare`
    read it as they read any evaluation run."""
    import json

    (tmp_path / "s.yaml").write_text(TWO_CASES)
    done = promptkit(tmp_path, "s.yaml", "--mode", "off", "--prompt", "rag-answer@2",
                     "--prompt", "closed-book@1", "--run-dir", "runs")
    assert done.returncode == 1, done.stdout + done.stderr   # moon fails: Gagarin is wrong
    folder = tmp_path / "runs" / "folder--rag-answer_2"
    assert f"folder (rag-answer@2) as a run folder: {Path('runs') / folder.name}" in done.stdout
    records = [json.loads(line) for line in (folder / "cases.jsonl").read_text().splitlines()]
    assert [(r["id"], r["scores"]["pass"]["value"]) for r in records] == [("ada", 1.0),
                                                                          ("moon", 0.0)]
    assert records[0]["scores"]["length"]["value"] == 1.0
    assert "length" not in records[1]["scores"]          # moon asserts no length
    summary = json.loads((folder / "summary.json").read_text())
    passing = summary["metrics"]["pass"]
    assert (passing["mean"], passing["ci_method"]) == (0.5, "wilson")
    assert summary["metrics"]["length"]["ci_low"] > 0     # all-1: Wilson, not a zero-width CI
    assert summary["metric_info"]["score"] == {"binary": False, "higher_is_better": True}

    from promptkit.cli import run

    report = run(["eval", "report", str(folder), "--html", str(tmp_path / "r.html")])
    assert report == 0
    html = (tmp_path / "r.html").read_text()
    assert "icontains-any" in html and "folder--rag-answer_2" in html
    other = tmp_path / "runs" / "folder--closed-book_1"
    capsys.readouterr()
    assert run(["eval", "compare", str(folder), str(other)]) == 0
    compared = capsys.readouterr().out
    assert "| pass | 0.500 |" in compared and "exact McNemar" in compared


def test_bad_arguments_are_user_errors(tmp_path, monkeypatch, capsys):
    from promptkit.cli import run

    monkeypatch.chdir(tmp_path)
    assert run(["test", "missing.yaml"]) == 2
    assert "suite path not found: missing.yaml" in capsys.readouterr().err
    assert run(["test"]) == 2   # no suite given and no ./eval/suites
    assert "eval/suites/ does not exist" in capsys.readouterr().err
    assert run(["test", ".", "--mode", "sideways"]) == 2


def test_a_suite_run_does_not_replace_another_kind_of_run(tmp_path):
    """A run folder of the suite's name that holds an evaluation run is left as it was: the
    session says why no folder was written and exits 2."""
    import json

    (tmp_path / "s.yaml").write_text(SUITE)
    held = tmp_path / "runs" / "cli--rag-answer_2"
    held.mkdir(parents=True)
    (held / "manifest.json").write_text(json.dumps({"run_id": "x", "status": "complete"}))
    (held / "cases.jsonl").write_text('{"id": "q1", "repeat": 0, "answer": "kept"}\n')
    before = {p.name: p.read_bytes() for p in held.iterdir()}
    done = promptkit(tmp_path, "s.yaml", "--mode", "off", "--run-dir", "runs")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no run folder written" in done.stdout and "holds an evaluation run" in done.stdout
    assert {p.name: p.read_bytes() for p in held.iterdir()
            if not p.name.startswith(".lock")} == before
