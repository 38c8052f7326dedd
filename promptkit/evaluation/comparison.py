"""Compare two runs case by case: paired statistics per metric, verdicts and flipped cases."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from promptkit.evaluation.aggregate import per_case_values
from promptkit.evaluation.records import RunRecord
from promptkit.evaluation.rundir import CONFIG, RunDir, resolve_run
from promptkit.safeparse import load_yaml


@dataclass
class LoadedRun:
    """A run folder read back: manifest, summary (if finished) and records."""

    run: RunDir
    manifest: dict
    summary: dict | None
    records: list[RunRecord]
    config: dict

    @property
    def id(self) -> str:
        return self.run.id

    def metric_names(self) -> list[str]:
        if self.summary:
            return list(self.summary.get("metrics", {}))
        return list(self.manifest.get("metrics", {}))

    def metric_info(self, name: str) -> dict:
        info = (self.summary or {}).get("metric_info") or self.manifest.get("metrics", {})
        return info.get(name, {})

    def by_id(self) -> dict[str, RunRecord]:
        """Case id -> its first record (repeat 0), for showing questions and answers."""
        out: dict[str, RunRecord] = {}
        for rec in self.records:
            out.setdefault(rec["id"], rec)
        return out


def load_run(ref: str | Path | RunDir) -> LoadedRun:
    run = ref if isinstance(ref, RunDir) else resolve_run(ref)
    config_path = run.path / CONFIG
    config = {}
    if config_path.is_file():
        config = load_yaml(config_path.read_text(encoding="utf-8"))
    return LoadedRun(run, run.manifest(), run.summary() if run.has_summary() else None,
                     list(run.finished().values()), config or {})


@dataclass
class MetricComparison:
    metric: str
    result: object | None = None     # stats.Comparison, None when it could not be computed
    reason: str = ""                 # why not
    changes: list[dict] = field(default_factory=list)  # cases that moved most (continuous metrics)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "reason": self.reason, "changes": self.changes,
                **({"result": self.result.to_dict()} if self.result is not None else {})}


@dataclass
class RunComparison:
    a: LoadedRun
    b: LoadedRun
    alpha: float
    metrics: list[MetricComparison]
    changed_settings: dict[str, tuple]   # dotted key -> (value in A, value in B)
    warnings: list[str]

    def to_dict(self) -> dict:
        return {"run_a": self.a.id, "run_b": self.b.id, "alpha": self.alpha,
                "changed_settings": {k: list(v) for k, v in self.changed_settings.items()},
                "warnings": self.warnings, "metrics": [m.to_dict() for m in self.metrics]}


def compare_runs(run_a, run_b, *, alpha: float = 0.05, metrics: list[str] | None = None,
                 seed: int = 0, test: str | None = None, top_changes: int = 5) -> RunComparison:
    """B against A on the cases both runs scored, one paired test per metric.

    `test` picks the test for continuous metrics; without it, a run that names one in its
    manifest (`continuous_test`: a suite run names the gate's sign-flip permutation test, so
    that comparing two suite runs gives the gate's verdict) has it, else Wilcoxon."""
    from promptkit.evaluation.stats import pair_by_id, paired_compare

    a = run_a if isinstance(run_a, LoadedRun) else load_run(run_a)
    b = run_b if isinstance(run_b, LoadedRun) else load_run(run_b)
    test = test or a.manifest.get("continuous_test")
    if metrics:
        _check_metric_names(metrics, a, b)
    names = metrics or [m for m in a.metric_names() if m in set(b.metric_names())]
    out = []
    for name in names:
        va = per_case_values(a.records, name, keep_missing=True)
        vb = per_case_values(b.records, name, keep_missing=True)
        if not va or not vb:
            out.append(MetricComparison(name, reason=f"not scored in run {'A' if not va else 'B'}"))
            continue
        pairing = pair_by_id(va, vb)
        if not pairing.ids:
            out.append(MetricComparison(name, reason="no case scored in both runs"))
            continue
        info = a.metric_info(name)
        values = set(pairing.a) | set(pairing.b)
        # Repeats averaged per case can leave 0/1 metrics with fractions: then they are continuous.
        binary = bool(info.get("binary", False)) and values <= {0.0, 1.0}
        result = paired_compare(pairing.a, pairing.b, binary=binary, alpha=alpha, seed=seed,
                                higher_is_better=info.get("higher_is_better", True),
                                ids=pairing.ids, **({"test": test} if test and not binary else {}))
        result = dataclasses.replace(result, only_a=pairing.only_a, only_b=pairing.only_b,
                                     unscored=pairing.unscored)
        changes = [] if binary else _largest_changes(pairing, top_changes)
        out.append(MetricComparison(name, result, changes=changes))
    warnings = _warnings(a, b)
    if metrics is None:
        for label, run, other in (("A", a, b), ("B", b, a)):
            alone = [m for m in run.metric_names() if m not in set(other.metric_names())]
            if alone:
                warnings.append(f"only run {label} scored: {', '.join(alone)} (not compared)")
    return RunComparison(a, b, alpha, out, _changed_settings(a.config, b.config), warnings)


def _check_metric_names(wanted: list[str], a: LoadedRun, b: LoadedRun) -> None:
    """A metric neither run scored is a typo, not a metric to report as "not scored"."""
    from promptkit.errors import NotFoundError

    known = set(a.metric_names()) | set(b.metric_names())
    for name in wanted:
        if name not in known:
            raise NotFoundError("metric", name, known,
                                hint="Name metrics as the runs' summaries do (see `promptkit "
                                     "eval report RUN`), or leave out --metric to compare "
                                     "every metric both runs scored.")


def _largest_changes(pairing, top: int) -> list[dict]:
    moved = [(cid, x, y) for cid, x, y in zip(pairing.ids, pairing.a, pairing.b, strict=True)
             if x != y]
    moved.sort(key=lambda t: abs(t[2] - t[1]), reverse=True)
    return [{"id": cid, "a": x, "b": y} for cid, x, y in moved[:top]]


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _changed_settings(ca: dict, cb: dict) -> dict[str, tuple]:
    fa, fb = _flatten(ca), _flatten(cb)
    skip = {"name", "concurrency"}
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb))
            if k not in skip and fa.get(k) != fb.get(k)}


def _warnings(a: LoadedRun, b: LoadedRun) -> list[str]:
    out = []
    ha = a.manifest.get("dataset", {}).get("content_hash")
    hb = b.manifest.get("dataset", {}).get("content_hash")
    if ha and hb and ha != hb:
        out.append("the runs used different dataset files; "
                   "only case ids present in both are paired")
    for label, run in (("A", a), ("B", b)):
        if run.summary is None or not run.summary.get("complete", False):
            out.append(f"run {label} ({run.id}) is unfinished; resume it for a full comparison")
    return out
