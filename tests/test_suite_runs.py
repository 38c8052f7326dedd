"""A suite run written as an evaluation run folder (`promptkit test --run-dir`)."""

from __future__ import annotations

import json

from promptkit.evaluation.comparison import load_run
from promptkit.testing.assertions import Outcome
from promptkit.testing.suite import load_suite
from promptkit.testing.suite_report import PromptRun
from promptkit.testing.suite_runner import CaseResult, RepeatResult
from promptkit.testing.suite_runs import repeat_scores, write_run

SUITE = """\
name: runs
prompts: [rag-answer@3]
model: openai:gpt-x@https://alice:s3cret@llm.example.com/v1?api_key=k3y
cases:
  - id: a
    question: Who wrote the first program?
    context: ["Ada Lovelace wrote the first program."]
    answers: [Lovelace]
    assert: [{type: metric, name: token_f1, threshold: 0.5}, {type: latency, threshold: 5}]
  - id: b
    question: Who walked on the moon first?
    context: ["Neil Armstrong walked on the moon first."]
    answers: [Armstrong]
    assert: [{type: metric, name: exact_match, threshold: 1}]
"""


def _result(case: str, *outcomes: Outcome, error: str | None = None) -> CaseResult:
    result = CaseResult("runs", case, "rag-answer@3", "sha256:abc", "openai:gpt-x", "replay",
                        False, error=error)
    if error is None:
        result.runs.append(RepeatResult("an answer", list(outcomes)))
    return result


def test_each_metric_assertion_is_its_own_column_with_its_measured_value():
    # labels are the user's own words: the metric's name comes from the outcome, not them
    scores, info = repeat_scores(RepeatResult("x", [
        Outcome("metric", "grounded", True, "token_f1 = 0.700", value=0.7, metric="token_f1"),
        Outcome("metric", "EM is fine", False, "exact_match = 0.000", value=0.0,
                metric="exact_match"),
        Outcome("latency", "fast enough", True, "1.20s", value=1.2, higher_is_better=False),
        Outcome("icontains-any", "icontains-any ['x']", True, "found 'x'"),
        Outcome("icontains-any", "icontains-any ['y']", False, "none found")]))
    assert {k: v["value"] for k, v in scores.items()} == {
        "pass": 0.0, "score": 0.6, "metric:token_f1": 1.0, "metric:token_f1 (value)": 0.7,
        "metric:exact_match": 0.0, "metric:exact_match (value)": 0.0, "latency": 1.0,
        "latency (value)": 1.2, "icontains-any": 0.0}
    assert info["latency (value)"] == {"binary": False, "higher_is_better": False}
    assert info["metric:token_f1 (value)"] == {"binary": False, "higher_is_better": True}
    assert info["icontains-any"]["binary"] is True


def test_the_folder_is_a_harness_run_without_credentials_and_is_replaced_on_rerun(tmp_path):
    path = tmp_path / "runs.yaml"
    path.write_text(SUITE)
    suite = load_suite(path)
    run = PromptRun("runs", "rag-answer@3", "replay", 2, gate="ok")
    run.results = {
        "a": _result("a", Outcome("metric", "metric token_f1 >= 0.5", True, "", value=0.8,
                             metric="token_f1"),
                     Outcome("latency", "latency <= 5s", True, "", value=0.4,
                             higher_is_better=False)),
        "b": _result("b", error="replay mode: no recorded response")}
    folder = write_run(run, suite, tmp_path / "out", repeats=1)
    assert folder.name == "runs--rag-answer_3"
    written = "".join(p.read_text() for p in folder.iterdir() if p.is_file())
    assert "s3cret" not in written and "k3y" not in written
    loaded = load_run(folder)
    assert loaded.manifest["status"] == "complete"
    assert loaded.manifest["continuous_test"] == "permutation"   # the gate's test
    assert loaded.manifest["invocations"][-1]["ran"] == 2
    assert [(r["id"], r["scores"]["pass"]["outcome"]) for r in loaded.records] == [
        ("a", "ok"), ("b", "error")]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"]["pass"]["n_cases"] == 1            # the error is not a failure
    assert summary["metrics"]["pass"]["outcomes"]["error"] == 1
    # Written again (another session, other results): replaced, not appended to.
    run.results = {"a": run.results["a"]}
    write_run(run, suite, tmp_path / "out", repeats=1)
    assert len((folder / "cases.jsonl").read_text().splitlines()) == 1


def test_a_partial_session_says_so_and_two_suites_of_one_name_stay_apart(tmp_path):
    one, two = tmp_path / "a" / "s.yaml", tmp_path / "b" / "s.yaml"
    for path in (one, two):
        path.parent.mkdir()
        path.write_text(SUITE)
    run = PromptRun("runs", "rag-answer@3", "replay", 2)
    run.results = {"a": _result("a", Outcome("length", "length <= 9", True, ""))}  # -k a
    first = write_run(run, load_suite(one), tmp_path / "out", repeats=1)
    second = write_run(run, load_suite(two), tmp_path / "out", repeats=1)
    assert first != second and first.parent == second.parent
    loaded = load_run(first)
    assert loaded.manifest["status"] == "partial" and not loaded.summary["complete"]
    assert loaded.config["prompt"] == "rag-answer@3" and loaded.config["cases run"] == 1
    # the same suite file again: its own folder is replaced
    assert write_run(run, load_suite(one), tmp_path / "out", repeats=1) == first
