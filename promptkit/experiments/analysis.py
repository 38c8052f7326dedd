"""Shared analysis steps: a cell's estimate, paired comparisons between cells, Holm's correction."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from promptkit.experiments.cells import CellRun


def estimate(run: CellRun, metric: str) -> dict:
    """Mean and CI of a cell (from its harness summary: Wilson for 0/1 metrics, else bootstrap);
    Nones when it has not run."""
    s = run.summary(metric) or {}
    return {"label": run.label, "title": run.cell.get("title", run.label),
            "mean": s.get("mean"), "ci_low": s.get("ci_low"), "ci_high": s.get("ci_high"),
            "n": s.get("n_cases", 0), "complete": run.complete()}


def is_binary(run: CellRun, metric: str) -> bool:
    if run.run is None:
        return False
    return bool(run.run.metric_info(metric).get("binary", False))


def compare(base: CellRun, other: CellRun, metric: str, *, alpha: float, seed: int = 0) -> dict:
    """`other` against `base` on the cases both scored: delta, CI, paired test, verdict."""
    from promptkit.evaluation.stats import compare_by_id

    va, vb = base.values(metric), other.values(metric)
    common = sorted(set(va) & set(vb))
    out = {"base": base.label, "cell": other.label, "title": other.cell.get("title", other.label),
           "n": len(common)}
    if not common:
        out["reason"] = "no case scored in both cells"
        return out
    values = {va[i] for i in common} | {vb[i] for i in common}
    binary = is_binary(base, metric) and values <= {0.0, 1.0}
    lower_better = base.run is not None and \
        base.run.metric_info(metric).get("higher_is_better") is False
    result = compare_by_id(va, vb, binary=binary, alpha=alpha, seed=seed,
                           higher_is_better=not lower_better)
    out.update(mean_base=result.mean_a, mean=result.mean_b, delta=result.delta,
               ci_low=result.ci_low, ci_high=result.ci_high, test=result.test,
               p_value=result.p_value, verdict=result.verdict, note=result.note,
               wins=len(result.wins), losses=len(result.losses))
    # What the detectable effect is computed from once the family's size is known (add_holm).
    if binary:
        out["spread"] = {"discordant": (len(result.wins) + len(result.losses)) / len(common)}
    else:
        diffs = [vb[i] - va[i] for i in common]
        out["spread"] = {"sd": statistics.stdev(diffs) if len(diffs) > 1 else 0.0}
    return out


def compare_all(runs: Sequence[CellRun], pairs: Sequence[tuple[str, str]], metric: str, *,
                alpha: float, seed: int = 0) -> list[dict]:
    """Each (base, cell) pair of a kind's `contrasts` whose two cells have run, then Holm."""
    by_label = {r.label: r for r in runs}
    out = [compare(by_label[base], by_label[label], metric, alpha=alpha, seed=seed)
           for base, label in pairs
           if base in by_label and label in by_label
           and by_label[base].run is not None and by_label[label].run is not None]
    add_holm(out, alpha)
    return out


def family_alpha(alpha: float, contrasts: int) -> float:
    """The level the first step of Holm's procedure tests at (Bonferroni's): the detectable
    effect is stated at it, so it holds for every contrast of the family."""
    return alpha / max(contrasts, 1)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (same order; None stays None)."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))   # step-down, kept monotone
        adjusted[i] = running
    return adjusted


def add_holm(comparisons: list[dict], alpha: float) -> None:
    """Attach Holm-adjusted p-values and the verdict they support to each comparison."""
    from promptkit.evaluation.stats import detectable_effect

    adjusted = holm([c.get("p_value") for c in comparisons])
    level = family_alpha(alpha, sum(p is not None for p in adjusted))
    for c, p in zip(comparisons, adjusted, strict=True):
        c["p_holm"] = p
        if p is not None:
            c["significant_holm"] = p < alpha and c.get("verdict") != "no significant difference"
        if "spread" in c:
            c["detectable"] = detectable_effect(c["n"], alpha=level, **c["spread"])


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_ci(row: dict, digits: int = 3) -> str:
    if row.get("mean") is None:
        return "not run"
    low, high = fmt(row.get("ci_low"), digits), fmt(row.get("ci_high"), digits)
    return f"{row['mean']:.{digits}f} [{low}, {high}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def detectable_text(c: dict) -> str:
    """The detectable column: the effect, or why there is none."""
    if c.get("detectable") is not None:
        return f"±{c['detectable']:.3f}"
    spread = c.get("spread") or {}
    if spread.get("discordant") == 0 or spread.get("sd") == 0:
        return "– (the cells agree on every case)"
    return "none at this size"


DETECTABLE_NOTE = ("detectable: the smallest difference the paired test finds with 80% power "
                   "at this size, at the family's Bonferroni level (Holm's first step), from the "
                   "observed share of discordant cases (0/1 metrics) or spread of differences.")


def comparison_table(comparisons: list[dict], *, base_title: str) -> str:
    """Markdown rows: each cell against the base, with the paired test, Holm's correction and
    the smallest detectable effect (what a "no significant difference" could have missed)."""
    lines = [f"| cell | vs {base_title} | delta [95% CI] | fixes / breaks | test | p | "
             "p (Holm) | verdict | detectable |", "|---|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        if "delta" not in c:
            lines.append(f"| {c['title']} | – | – | – | – | – | – | {c.get('reason', 'not run')} "
                         "| – |")
            continue
        detectable = detectable_text(c)
        verdict = c["verdict"]
        if c.get("p_holm") is not None and verdict != "no significant difference" \
                and not c.get("significant_holm"):
            verdict += " (not after Holm)"
        lines.append(
            f"| {c['title']} | {fmt(c['mean_base'])} → {fmt(c['mean'])} | "
            f"{c['delta']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | "
            f"{c['wins']} / {c['losses']} | {c['test']} | {fmt_p(c['p_value'])} | "
            f"{fmt_p(c.get('p_holm'))} | {verdict} | {detectable} |")
    return "\n".join(lines + ["", f"_{DETECTABLE_NOTE}_"])
