"""Plain-text summaries of suite runs: the table `promptkit test` ends with, and comparisons."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from promptkit.testing.suite_runner import CaseResult


@dataclass
class PromptRun:
    """One prompt version's results on one suite in this session."""

    suite: str
    prompt: str
    mode: str
    total_cases: int
    results: dict[str, CaseResult] = field(default_factory=dict)
    metric: str = "pass"    # what the gate compares: "pass" or "score"
    gate: str = ""          # one-line gate outcome, filled in when the gate item ran
    baseline_value: float | None = None   # the baseline's mean of `metric`
    known: set[str] = field(default_factory=set)   # cases that fail in the baseline too
    gate_passed: bool | None = None   # None: no gate ran (no case ran, or blessing)
    broken: list[str] = field(default_factory=list)   # passed in the baseline, fail now
    fixed: list[str] = field(default_factory=list)    # failed in the baseline, pass now

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results.values())

    @property
    def score(self) -> float | None:
        values = [r.score for r in self.results.values() if r.score is not None]
        return math.fsum(values) / len(values) if values else None

    @property
    def pass_rate(self) -> float | None:
        return self.count("passed") / len(self.results) if self.results else None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(runs: Sequence[PromptRun]) -> str:
    """One row per suite x prompt version."""
    header = ("suite", "prompt", "mode", "cases", "passed", "failed", "flaky", "errors",
              "pass rate", "score", "baseline", "gate")
    rows = [header]
    for run in runs:
        ran = len(run.results)
        cases = f"{ran}" if ran == run.total_cases else f"{ran}/{run.total_cases}"
        rows.append((run.suite, run.prompt, run.mode, cases, str(run.count("passed")),
                     str(run.count("failed")), str(run.count("flaky")), str(run.count("error")),
                     _fmt(run.pass_rate, 2), _fmt(run.score),
                     _fmt(run.baseline_value, 2 if run.metric == "pass" else 3),
                     run.gate or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ----")
    return "\n".join(lines)


def compare_prompts(first: PromptRun, other: PromptRun, alpha: float = 0.05,
                    metric: str = "pass") -> str:
    """Side-by-side pass rates of two prompt versions on one suite, with the paired verdict."""
    from promptkit.errors import UserError
    from promptkit.evaluation.stats import compare_by_id

    a = {c: r.value(metric) for c, r in first.results.items() if r.error is None}
    b = {c: r.value(metric) for c, r in other.results.items() if r.error is None}
    head = (f"{first.suite}: {other.prompt} vs {first.prompt}: pass rate "
            f"{_fmt(other.pass_rate, 2)} vs {_fmt(first.pass_rate, 2)}, score "
            f"{_fmt(other.score)} vs {_fmt(first.score)}")
    try:
        cmp = compare_by_id(a, b, alpha=alpha, test="permutation", seed=0)
    except UserError as exc:
        return f"{head}\n  not compared: {exc.message}"
    passed_a = {c for c, r in first.results.items() if r.passed}
    passed_b = {c for c, r in other.results.items() if r.passed}
    fixes, breaks = sorted(passed_b - passed_a), sorted(passed_a - passed_b)
    what = "pass/fail" if metric == "pass" else "scores"
    lines = [head, f"  {cmp.test} on {what}, p = {cmp.p_value:.3g} at alpha {alpha:g}: "
                   f"{other.prompt} is "
                   + (cmp.verdict if cmp.verdict != "no significant difference"
                      else "not significantly different")]
    if fixes:
        lines.append(f"  passes where {first.prompt} fails ({len(fixes)}): {', '.join(fixes)}")
    if breaks:
        lines.append(f"  fails where {first.prompt} passes ({len(breaks)}): {', '.join(breaks)}")
    if cmp.verdict == "no significant difference" and cmp.note:
        lines.append(f"  {cmp.note}")
    return "\n".join(lines)


def failures(runs: Sequence[PromptRun], *, full: bool = False, limit: int = 40) -> list[str]:
    """Failed, flaky or errored cases: one line each, or (`full`) each one's whole report.

    Without `full`, non-critical cases that fail in the baseline too are only counted.
    """
    lines = []
    for run in runs:
        known = 0
        for r in run.results.values():
            if r.status == "passed":
                continue
            if full:
                lines.extend(["", *r.report().splitlines()])
                continue
            if r.status == "failed" and not r.critical and r.case_id in run.known:
                known += 1
                continue
            what = r.error.splitlines()[0] if r.error else "; ".join(r.failed_labels())
            crit = " [critical]" if r.critical else ""
            lines.append(f"{r.status.upper():7} {run.suite}::{r.case_id} ({run.prompt}){crit}: "
                         + what)
        if known:
            lines.append(f"{run.suite} ({run.prompt}): {known} non-critical case(s) failing as in "
                         "the baseline (-v lists them)")
    if not full and len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines
