"""Baselines and the gate: the blessed per-case results of a suite, and the check against them.

`promptkit test --bless` stores one prompt version's per-case results in `eval/baselines/`.
A later run passes the gate unless the suite's gate metric (per case: passed or not, or the
weighted score) is significantly worse than the baseline's, by the harness's paired test
(exact McNemar on pass/fail, a sign-flip permutation test on scores), or its mean is below
the suite's `min_score`. One case cannot decide that; critical cases are enforced one by one
by their own test items instead.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from promptkit.errors import ConfigError, UserError
from promptkit.safeparse import loads_json
from promptkit.testing.suite_runner import CaseResult

FORMAT_VERSION = 1
# The gate's test for a continuous gate metric (the score, or pass shares under repeats); a
# suite's run folder names it so that `eval compare` of two suite runs tests the same way.
GATE_TEST = "permutation"


@dataclass
class Baseline:
    suite: str
    prompt: str
    prompt_hash: str
    model: str
    mode: str
    repeats: int
    created: str
    cases: dict[str, dict]     # case id -> {"pass", "score", "status", "critical", "failed"}
    format: int = FORMAT_VERSION

    def values(self, metric: str = "pass") -> dict[str, float | None]:
        return {cid: c.get(metric) for cid, c in self.cases.items()}

    def mean(self, metric: str = "pass") -> float | None:
        values = [v for v in self.values(metric).values() if v is not None]
        return math.fsum(values) / len(values) if values else None

    @property
    def pass_rate(self) -> float:
        passed = sum(c.get("status") == "passed" for c in self.cases.values())
        return passed / max(len(self.cases), 1)


def make_baseline(results: Sequence[CaseResult], *, repeats: int) -> Baseline:
    """A baseline from one prompt version's complete, error-free results."""
    if not results:
        raise UserError("nothing to bless: no case ran")
    errors = [r for r in results if r.error]
    if errors:
        raise UserError(f"cannot bless: {len(errors)} case(s) ended in an error "
                        f"(first: '{errors[0].case_id}': {errors[0].error})",
                        hint="Fix them (or record them) and bless again; a baseline of errors "
                             "would gate nothing.")
    prompts = {r.prompt for r in results}
    if len(prompts) > 1:
        raise UserError("cannot bless several prompt versions at once: "
                        + ", ".join(sorted(prompts)),
                        hint="Bless one: promptkit test SUITE --prompt NAME@VERSION --bless")
    first = results[0]
    return Baseline(
        suite=first.suite, prompt=first.prompt, prompt_hash=first.prompt_hash, model=first.model,
        mode=first.mode, repeats=repeats,
        created=datetime.now(UTC).replace(microsecond=0).isoformat(),
        cases={r.case_id: {"pass": round(r.pass_share, 6), "score": round(r.score, 6),
                           "status": r.status, "critical": r.critical,
                           "failed": r.failed_labels()}
               for r in results})


def write_baseline(path: Path, baseline: Baseline) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(baseline), indent=1, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def read_baseline(path: Path) -> Baseline | None:
    """The baseline at `path`, or None when there is none."""
    if not path.exists():
        return None
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT_VERSION:
            raise ConfigError(f"baseline format {data.get('format')!r} is not "
                              f"{FORMAT_VERSION}", path=str(path),
                              hint="Bless the suite again with this promptkit version.")
        return Baseline(**data)
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ConfigError(f"not a baseline file: {exc}", path=str(path),
                          hint="Restore it from version control or bless the suite again."
                          ) from None


@dataclass
class GateResult:
    passed: bool
    summary: str
    verdict: str | None = None
    p_value: float | None = None
    mean_baseline: float | None = None
    mean_current: float | None = None
    broken: list[str] = field(default_factory=list)   # passed in the baseline, fail now
    fixed: list[str] = field(default_factory=list)    # failed in the baseline, pass now


def gate(baseline: Baseline | None, results: Sequence[CaseResult], *, alpha: float = 0.05,
         min_score: float | None = None, metric: str = "pass") -> GateResult:
    """Pass unless the metric is significantly worse than the baseline's or below min_score."""
    from promptkit.evaluation.stats import compare_by_id

    what = "pass rate" if metric == "pass" else "score"
    current = {r.case_id: r.value(metric) for r in results if r.error is None}
    if not current:
        return GateResult(True, "nothing to compare: every case ended in an error")
    mean_now = math.fsum(current.values()) / len(current)
    problems, lines = [], []
    if min_score is not None and mean_now < min_score:
        problems.append(f"suite {what} {mean_now:.3f} is below min_score {min_score:.3f}")
    if baseline is None:
        lines.append(f"suite {what} {mean_now:.3f} over {len(current)} case(s); no baseline to "
                     "compare with (bless one: promptkit test SUITE --bless)")
        return GateResult(not problems, "\n".join(problems + lines), mean_current=mean_now)

    status = {r.case_id: r.status for r in results}
    broken = [c for c, b in baseline.cases.items() if b.get("status") == "passed"
              and status.get(c) in ("failed", "flaky")]
    fixed = [c for c, b in baseline.cases.items() if b.get("status") != "passed"
             and status.get(c) == "passed"]
    try:
        cmp = compare_by_id(baseline.values(metric), current, alpha=alpha, test=GATE_TEST,
                            seed=0)
    except UserError as exc:
        return GateResult(False, f"cannot compare with baseline {baseline.prompt}: {exc.message}"
                                 "\nBless the suite again if its cases changed on purpose.")
    lines.append(f"{cmp.test} vs baseline {baseline.prompt} ({baseline.model}): {what} "
                 f"{cmp.mean_a:.3f} -> {cmp.mean_b:.3f} over {cmp.n} cases, "
                 f"p = {cmp.p_value:.3g} (alpha {alpha:g}): {cmp.verdict}")
    if broken:
        lines.append(f"broken since the baseline ({len(broken)}): {', '.join(broken)}")
    if fixed:
        lines.append(f"fixed since the baseline ({len(fixed)}): {', '.join(fixed)}")
    if cmp.only_a:
        lines.append(f"not run now ({len(cmp.only_a)}): {', '.join(cmp.only_a[:10])}")
    if cmp.only_b:
        lines.append(f"not in the baseline ({len(cmp.only_b)}): {', '.join(cmp.only_b[:10])}")
    if cmp.verdict == "worse":
        problems.insert(0, f"suite {what} dropped significantly against the baseline "
                           f"({cmp.mean_a:.3f} -> {cmp.mean_b:.3f}, p = {cmp.p_value:.3g})")
    elif cmp.note and cmp.delta < 0:
        lines.append(cmp.note)
    return GateResult(not problems, "\n".join(problems + lines), cmp.verdict, cmp.p_value,
                      cmp.mean_a, cmp.mean_b, broken, fixed)
