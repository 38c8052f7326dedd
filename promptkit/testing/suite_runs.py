"""A suite run as an evaluation run: each prompt version's results written as a harness run folder.

Every assertion kind is a binary metric of the case ("icontains-any": 1 when all of the case's
icontains-any assertions passed; a `metric` assertion counts under `metric:<name>`), beside
`pass` (the case passed, as the gate counts it) and `score` (the weighted share of assertions
passed); the number measured by a `metric`, `similar`, `llm-rubric` or `latency` assertion is
kept too, as the continuous metric `<kind> (value)`. The folder has the harness's files —
manifest.json, config.yaml, cases.jsonl (one record per case and repeat), summary.json from the
harness's aggregation (Wilson intervals for the binary metrics) — so that `promptkit eval report`
renders a suite run as Markdown or HTML and `promptkit eval compare` pairs two of them with the
same tests as any evaluation (`promptkit test --run-dir DIR`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from promptkit.evaluation.aggregate import summarise
from promptkit.evaluation.records import RunRecord
from promptkit.evaluation.rundir import RunDir
from promptkit.testing.baseline import GATE_TEST

if TYPE_CHECKING:
    from promptkit.testing.suite import Suite
    from promptkit.testing.suite_report import PromptRun
    from promptkit.testing.suite_runner import CaseResult, RepeatResult

PASS, SCORE = "pass", "score"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def folder_name(suite: str, prompt: str) -> str:
    """`<suite>--<prompt>`, with characters a file name should not hold replaced."""
    return _UNSAFE.sub("_", f"{suite}--{prompt}")


def _score(value: float | None, outcome: str = "ok", **detail) -> dict:
    return {"value": value, "outcome": outcome, "detail": detail}


_MEASURED = ("metric", "similar", "llm-rubric", "latency")   # a number behind the verdict


def metric_key(outcome) -> str:
    """The metric an assertion counts under: its type, or `metric:<name>` for a `metric`
    assertion (two metrics in one case are two columns, not one)."""
    if outcome.type == "metric" and outcome.metric:
        return f"metric:{outcome.metric}"
    return outcome.type


def repeat_scores(run: RepeatResult) -> tuple[dict[str, dict], dict[str, dict]]:
    """For one answer: its scores (`pass`, `score`, one binary metric per assertion kind, and
    the measured number behind a `metric`, `similar`, `llm-rubric` or `latency` assertion as
    `<kind> (value)`) and what each metric is (binary, which way is better)."""
    scores = {PASS: _score(float(run.passed)), SCORE: _score(run.score)}
    info = {PASS: {"binary": True, "higher_is_better": True},
            SCORE: {"binary": False, "higher_is_better": True}}
    by_key: dict[str, list] = {}
    for o in run.outcomes:
        by_key.setdefault(metric_key(o), []).append(o)
    for key, outcomes in by_key.items():
        info[key] = {"binary": True, "higher_is_better": True}
        unusable = [o for o in outcomes if o.error]
        if len(unusable) == len(outcomes):
            scores[key] = _score(None, "error", reason="; ".join(o.message for o in unusable))
            continue
        scores[key] = _score(0.0 if any(not o.passed for o in outcomes) else 1.0,
                             assertions=[{"label": o.label, "passed": o.passed,
                                          "message": o.message, "measured": o.value}
                                         for o in outcomes])
        measured = [o.value for o in outcomes if o.value is not None]
        if outcomes[0].type in _MEASURED and measured:
            scores[f"{key} (value)"] = _score(measured[0])
            info[f"{key} (value)"] = {"binary": False,
                                      "higher_is_better": outcomes[0].higher_is_better}
    return scores, info


def records_of(result: CaseResult, question: str) -> tuple[list[RunRecord], dict[str, dict]]:
    """The harness records of one case (one per repeat, or one "error" record) and what
    their metrics are."""
    base = {"id": result.case_id, "question": question, "prompt": result.prompt,
            "critical": result.critical}
    if result.error or not result.runs:
        reason = result.error or "no answer"
        return [{**base, "repeat": 0, "answer": None, "error": reason,
                 "scores": {PASS: _score(None, "error", reason=reason),
                            SCORE: _score(None, "error", reason=reason)}}], {}
    records, info = [], {}
    for i, run in enumerate(result.runs):
        scores, kinds = repeat_scores(run)
        info.update(kinds)
        records.append({**base, "repeat": i, "answer": run.text, "citations": run.citations,
                        "latency_s": run.latency_s, "scores": scores})
    return records, info


def write_run(run: PromptRun, suite: Suite, root: str | Path, *, repeats: int) -> Path:
    """Write `run` (one suite under one prompt version) as a run folder under `root`, through
    the harness's run-folder lifecycle; a folder an earlier session wrote for the same suite
    and prompt version is replaced. Returns the folder."""
    from promptkit.evaluation.runner import package_version
    from promptkit.safeparse import load_yaml

    folder = RunDir(Path(root) / folder_name(run.suite, run.prompt))
    if folder.exists():
        held = folder.manifest().get("pipeline", {}).get("suite")
        if held and Path(held).resolve() != suite.path.resolve():
            # Another suite file of the same name wrote here: keep both, apart.
            tag = hashlib.sha256(str(suite.path.resolve()).encode()).hexdigest()[:8]
            folder = RunDir(Path(root) / f"{folder.id}--{tag}")
    records: list[RunRecord] = []
    info: dict[str, dict] = {PASS: {"binary": True, "higher_is_better": True},
                             SCORE: {"binary": False, "higher_is_better": True}}
    for case_id, result in run.results.items():
        recs, kinds = records_of(result, suite.spec.case(case_id).question)
        records += recs
        info.update(kinds)
    names = list(info)
    first = next(iter(run.results.values()), None)
    source = suite.path.read_bytes()
    fingerprint = hashlib.sha256(source + run.prompt.encode() + run.mode.encode()
                                 + str(repeats).encode()).hexdigest()[:16]
    # What this run was: the settings `promptkit test` used on top of the suite file, so that
    # `eval compare` of two suite runs names what changed (prompt, model, mode, repeats).
    complete = len(run.results) == run.total_cases
    config = {"prompt": run.prompt, "model": first.model if first else None, "mode": run.mode,
              "repeats": repeats, "cases run": len(run.results),
              "suite": load_yaml(source.decode("utf-8")) or {}}
    summary = summarise(records, names, seed=0, binary={n: info[n]["binary"] for n in names})
    summary.update(run_id=folder.id, name=run.suite, complete=complete, metric_info=info,
                   expected_records=len(records), bad_records=[], kind="suite",
                   gate={"outcome": run.gate or None, "passed": run.gate_passed,
                         "broken": run.broken, "fixed": run.fixed})
    # A suite run is re-run whole, not resumed; -k, -x or an interrupted session ran only
    # some cases: "partial".
    folder.write_whole(records, kind="suite", fingerprint=fingerprint, config=config,
                       manifest=lambda public: {
        "name": run.suite, "promptkit_version": package_version(),
        "model": first.model if first else None, "prompt_ref": run.prompt,
        "prompts": {first.prompt: first.prompt_hash} if first and first.prompt_hash else {},
        "pipeline": {"suite": str(suite.path), "gate metric": run.metric},
        "dataset": {"path": str(suite.path), "format": "suite",
                    "content_hash": hashlib.sha256(source).hexdigest(),
                    "cases": run.total_cases, "bad_records": 0},
        "metrics": info, "repeats": repeats, "seed": suite.spec.params.seed or 0,
        "cache_mode": run.mode, "continuous_test": GATE_TEST},
        summary=summary, status="complete" if complete else "partial")
    return folder.path


__all__ = ["PASS", "SCORE", "folder_name", "metric_key", "records_of", "repeat_scores",
           "write_run"]
