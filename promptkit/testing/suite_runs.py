"""A suite run as an evaluation run: each prompt version's results written as a harness run folder.

Every assertion type is a binary metric of the case ("icontains-any": 1 when all of the case's
icontains-any assertions passed), beside `pass` (the case passed, as the gate counts it) and
`score` (the weighted share of assertions passed). The folder has the harness's files —
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
from promptkit.evaluation.rundir import CASES, RunDir, now_iso

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


def repeat_scores(run: RepeatResult) -> dict[str, dict]:
    """`pass`, `score` and one binary metric per assertion type for one answer."""
    scores = {PASS: _score(float(run.passed)), SCORE: _score(run.score)}
    by_type: dict[str, list] = {}
    for o in run.outcomes:
        by_type.setdefault(o.type, []).append(o)
    for kind, outcomes in by_type.items():
        failed = [o for o in outcomes if not o.passed]
        unusable = [o for o in outcomes if o.error]
        if unusable and len(unusable) == len(outcomes):
            scores[kind] = _score(None, "error", reason="; ".join(o.message for o in unusable))
            continue
        scores[kind] = _score(0.0 if failed else 1.0,
                              assertions=[{"label": o.label, "passed": o.passed,
                                           "message": o.message, "measured": o.value}
                                          for o in outcomes])
    return scores


def records_of(result: CaseResult, question: str) -> list[dict]:
    """The harness records of one case: one per repeat, or one "error" record."""
    base = {"id": result.case_id, "question": question, "prompt": result.prompt,
            "critical": result.critical}
    if result.error or not result.runs:
        reason = result.error or "no answer"
        return [{**base, "repeat": 0, "answer": None, "error": reason,
                 "scores": {PASS: _score(None, "error", reason=reason),
                            SCORE: _score(None, "error", reason=reason)}}]
    return [{**base, "repeat": i, "answer": r.text, "citations": r.citations,
             "latency_s": r.latency_s, "scores": repeat_scores(r)}
            for i, r in enumerate(result.runs)]


def write_run(run: PromptRun, suite: Suite, root: str | Path, *, repeats: int) -> Path:
    """Write `run` (one suite under one prompt version) as a run folder under `root`, replacing
    what an earlier session wrote there; returns the folder."""
    from promptkit.evaluation.runner import package_version

    folder = RunDir(Path(root) / folder_name(run.suite, run.prompt))
    records = [rec for case_id, result in run.results.items()
               for rec in records_of(result, suite.spec.case(case_id).question)]
    names = list(dict.fromkeys([PASS, SCORE, *(m for rec in records for m in rec["scores"])]))
    info = {n: {"binary": n != SCORE, "higher_is_better": True} for n in names}
    first = next(iter(run.results.values()), None)
    source = suite.path.read_bytes()
    fingerprint = hashlib.sha256(source + run.prompt.encode() + run.mode.encode()).hexdigest()
    with folder.lock():
        if (folder.path / CASES).exists():
            (folder.path / CASES).unlink()
        now = now_iso()
        folder.write_text("config.yaml", source.decode("utf-8"))
        folder.write_json("manifest.json", {
            "run_id": folder.id, "fingerprint": fingerprint[:16], "status": "complete",
            "started": now, "finished": now, "kind": "suite", "name": run.suite,
            "promptkit_version": package_version(),
            "model": first.model if first else None, "prompt_ref": run.prompt,
            "prompts": {first.prompt: first.prompt_hash} if first and first.prompt_hash else {},
            "pipeline": {"suite": str(suite.path), "gate metric": run.metric},
            "dataset": {"path": str(suite.path), "format": "suite",
                        "content_hash": hashlib.sha256(source).hexdigest(),
                        "cases": run.total_cases, "bad_records": 0},
            "metrics": info, "repeats": repeats, "seed": suite.spec.params.seed or 0,
            "cache_mode": run.mode, "gate": run.gate or None})
        folder.open_for_append()
        try:
            for rec in records:
                folder.append(rec)
        finally:
            folder.close()
        summary = summarise(records, names, seed=0, binary={n: info[n]["binary"] for n in names})
        summary.update(run_id=folder.id, name=run.suite, complete=True, metric_info=info,
                       expected_records=len(records), bad_records=[], kind="suite",
                       gate={"outcome": run.gate or None, "passed": run.gate_passed,
                             "broken": run.broken, "fixed": run.fixed})
        folder.write_json("summary.json", summary)
    return folder.path


__all__ = ["PASS", "SCORE", "folder_name", "records_of", "repeat_scores", "write_run"]
