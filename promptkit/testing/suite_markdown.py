"""A Markdown summary of a suite run, for a CI job summary or a pull-request comment.

GitHub renders it as written to `$GITHUB_STEP_SUMMARY`; GitLab and others show it as a
comment. It holds what a reviewer needs without opening the log: one row per suite and prompt
version, the gate verdicts, the cases that flipped against the baseline or between two prompt
versions, and the failing cases (critical first).
"""

from __future__ import annotations

from collections.abc import Sequence

from promptkit.testing.suite_report import PromptRun

MAX_FAILURES = 30


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(runs: Sequence[PromptRun]) -> list[str]:
    lines = ["| suite | prompt | mode | cases | passed | failed | flaky | errors | pass rate "
             "| score | baseline | gate |",
             "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for run in runs:
        ran = len(run.results)
        cases = f"{ran}" if ran == run.total_cases else f"{ran}/{run.total_cases}"
        gate = run.gate or "-"
        mark = "" if run.gate_passed is None else ("✅ " if run.gate_passed else "❌ ")
        cells = [run.suite, f"`{run.prompt}`", run.mode, cases, run.count("passed"),
                 run.count("failed"), run.count("flaky"), run.count("error"),
                 _num(run.pass_rate), _num(run.score, 3),
                 _num(run.baseline_value, 2 if run.metric == "pass" else 3), mark + gate]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _flips(runs: Sequence[PromptRun]) -> list[str]:
    lines = []
    for run in runs:
        if run.broken or run.fixed:
            parts = []
            if run.broken:
                parts.append(f"broken ({len(run.broken)}): " + ", ".join(run.broken))
            if run.fixed:
                parts.append(f"fixed ({len(run.fixed)}): " + ", ".join(run.fixed))
            lines.append(f"- **{_cell(run.suite)}** `{run.prompt}` vs its baseline: "
                         + "; ".join(parts))
    by_suite: dict[str, list[PromptRun]] = {}
    for run in runs:
        by_suite.setdefault(run.suite, []).append(run)
    for suite, suite_runs in by_suite.items():
        first = suite_runs[0]
        passed_first = {c for c, r in first.results.items() if r.passed}
        for other in suite_runs[1:]:
            passed_other = {c for c, r in other.results.items() if r.passed}
            common = set(first.results) & set(other.results)
            worse = sorted((passed_first - passed_other) & common)
            better = sorted((passed_other - passed_first) & common)
            if worse or better:
                parts = []
                if worse:
                    parts.append(f"fail where `{first.prompt}` passes ({len(worse)}): "
                                 + ", ".join(worse))
                if better:
                    parts.append(f"pass where `{first.prompt}` fails ({len(better)}): "
                                 + ", ".join(better))
                lines.append(f"- **{_cell(suite)}** `{other.prompt}` vs `{first.prompt}`: "
                             + "; ".join(parts))
    return lines


def _failures(runs: Sequence[PromptRun]) -> list[str]:
    rows = []
    for run in runs:
        for r in run.results.values():
            if r.status == "passed":
                continue
            what = r.error.splitlines()[0] if r.error else "; ".join(r.failed_labels())
            known = r.case_id in run.known and not r.critical
            rows.append((not r.critical, known, f"- {r.status.upper()} `{_cell(run.suite)}::"
                         f"{r.case_id}` (`{run.prompt}`)" + (" **critical**" if r.critical
                                                             else "")
                         + (" (fails in the baseline too)" if known else "")
                         + f": {_cell(what)}"))
    rows.sort(key=lambda row: row[:2])
    lines = [text for _, _, text in rows[:MAX_FAILURES]]
    if len(rows) > MAX_FAILURES:
        lines.append(f"- ... and {len(rows) - MAX_FAILURES} more (see the job log or "
                     "`--report`)")
    return lines


def markdown_summary(runs: Sequence[PromptRun], exit_status: int = 0) -> str:
    """The whole summary; `exit_status` is pytest's (0 = every case and gate passed)."""
    verdict = "✅ passed" if int(exit_status) == 0 else f"❌ failed (exit code {int(exit_status)})"
    lines = [f"## promptkit suites: {verdict}", ""]
    if not runs:
        return "\n".join(lines + ["No suite case ran.", ""])
    lines += _table(runs)
    flips = _flips(runs)
    if flips:
        lines += ["", "### Flipped cases", "", *flips]
    failures = _failures(runs)
    if failures:
        lines += ["", "### Cases not passing", "", *failures]
    return "\n".join(lines) + "\n"
