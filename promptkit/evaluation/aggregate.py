"""Pure aggregation: finished records in, per-metric summary out (no I/O, no models)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from promptkit.evaluation.records import RunRecord, score_of


def per_case_values(records: Iterable[RunRecord], metric: str, *,
                    keep_missing: bool = False) -> dict[str, float | None]:
    """Case id -> the metric's mean over that case's repeats.

    Repeats of one case are not independent samples, so they are averaged before any statistic
    that resamples cases. Cases with no value (unparsable, error) are left out, or kept as None
    with `keep_missing` so a comparison can say which cases it could not use.
    """
    sums: dict[str, list[float]] = defaultdict(list)
    for rec in records:
        score = score_of(rec, metric)
        if score is None:
            continue
        bucket = sums[rec["id"]]
        if score.get("value") is not None:
            bucket.append(float(score["value"]))
    out = {cid: (sum(v) / len(v) if v else None) for cid, v in sums.items()}
    return out if keep_missing else {cid: v for cid, v in out.items() if v is not None}


def self_agreement(records: Iterable[RunRecord], metric: str) -> float | None:
    """Share of repeated cases whose repeats all gave the same value (None without repeats);
    a repeat without a value does not count (metrics_judge.repeat_agreement)."""
    from promptkit.evaluation.metrics_judge import repeat_agreement

    by_case: dict[str, list] = defaultdict(list)
    for rec in records:
        score = score_of(rec, metric)
        if score is not None:
            by_case[rec["id"]].append(score.get("value"))
    return repeat_agreement(list(by_case.values())).agreement


def metric_summary(records: list[RunRecord], metric: str, *, seed: int = 0,
                   alpha: float = 0.05, binary: bool | None = None,
                   n_resamples: int = 10_000) -> dict:
    """One metric over a run's records: repeats averaged per case, then the mean over cases
    with its interval (`stats.mean_ci`: Wilson for 0/1 metrics, bootstrap otherwise), outcome
    counts and, with repeats, self-agreement. The one aggregation step of the project: run
    summaries, reports, experiments and `metrics.aggregate` all come here."""
    from promptkit.evaluation.stats import mean_ci

    values = per_case_values(records, metric)
    outcomes = Counter({"ok": 0, "unparsable": 0, "error": 0})
    outcomes.update(score.get("outcome", "ok")
                    for score in (score_of(rec, metric) for rec in records) if score is not None)
    out = {"n_cases": len(values), "n_records": sum(outcomes.values()), "outcomes": dict(outcomes),
           "mean": None, "ci_low": None, "ci_high": None, "ci_method": None, "alpha": alpha}
    if values:
        ordered = [values[k] for k in sorted(values)]  # fixed order: same seed, same interval
        est = mean_ci(ordered, binary=binary, alpha=alpha, seed=seed, n_resamples=n_resamples)
        out.update(mean=est.mean, ci_low=est.low, ci_high=est.high, ci_method=est.method)
    agreement = self_agreement(records, metric)
    if agreement is not None:
        out["self_agreement"] = agreement
    return out


def summarise(records: list[RunRecord], metric_names: list[str], *, seed: int = 0,
              binary: dict[str, bool] | None = None) -> dict:
    """Summary of a run: per-metric mean, 95% CI (Wilson for 0/1 metrics, else bootstrap) and
    outcome counts."""
    case_ids = {rec["id"] for rec in records}
    return {
        "cases": len(case_ids),
        "records": len(records),
        "metrics": {name: metric_summary(records, name, seed=seed,
                                         binary=(binary or {}).get(name))
                    for name in metric_names},
    }
