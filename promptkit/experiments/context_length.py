"""context-length: accuracy against the total context, Lost in the Middle's 10 / 20 / 30
document design scaled to the model's window (e.g. 5 / 10 / 20 passages).

Every question is asked with N passages for each N in `n_docs` — its gold passage and the first
N-1 distractors free of the answer, the same distractors growing with N — and the gold passage
first, in the middle or last. The same questions fill every cell (those with enough distractors
for the largest N). The analysis draws accuracy against the prompt tokens each N took, per gold
position and pooled over positions, and states an effective length in the spirit of RULER
(Hsieh et al., 2024), which calls a length effective while the score stays above a fixed
threshold; here the threshold is relative — the shortest context's pooled accuracy minus
`margin` — and the length is the longest whose pooled accuracy, and every shorter one's, stays
above it. It compares point estimates: the report prints their CIs and the paired tests beside
it.
"""

from __future__ import annotations

from promptkit.experiments import analysis as an
from promptkit.experiments.cells import Cell, Context, Plan
from promptkit.experiments.data import make_dataset, with_contexts
from promptkit.experiments.position import check_fit, select_cases

WHERE = ("first", "middle", "last")


def gold_index(where: str, n: int) -> int:
    return {"first": 0, "middle": (n - 1) // 2, "last": n - 1}[where]


def build(ctx: Context) -> Plan:
    cfg, s = ctx.cfg, ctx.cfg.context_length
    ns, wheres = s.n_docs, [w for w in WHERE if w in s.positions]
    ds, sel = select_cases(ctx, max(ns), hint=f"Each case needs a gold passage with an answer "
                           f"and {max(ns) - 1} passages without one; lower the largest "
                           "context_length.n_docs.")
    basis = ctx.basis(ds.content_hash)
    cells = []
    for n in ns:
        for where in wheres:
            p = gold_index(where, n)
            cases = [with_contexts(c, d[:p] + [g] + d[p:n - 1], [g["id"]], gold_position=p)
                     for c, g, d in sel.cases]
            label = f"n-{n}-gold-{where}"
            cells.append(Cell(label, f"{n} passages, gold {where} ({p + 1} of {n})",
                              make_dataset(label, cases, ds.path, basis), cfg.prompt, cfg.prompt,
                              k=n, group="length", meta={"n_docs": n, "where": where,
                                                         "position": p}))
    check_fit(ctx, max(cells, key=lambda c: c.meta["n_docs"]))
    ctx.notify(f"context-length: {sel.note()}; {', '.join(map(str, ns))} passages")
    # Gold first: each N's prompt starts with the smaller N's passages; gold middle or last: the
    # distractors before the gold one are shared. So by position, then by growing N.
    order = sorted(cells, key=lambda c: (wheres.index(c.meta["where"]), c.meta["n_docs"]))
    return Plan(cells, {"n_docs": ns, "positions": wheres, "margin": s.margin,
                        "selection": sel.to_dict(), "selection_note": sel.note(),
                        "passage_tokens": cfg.data.passage_tokens},
                prefix_order=[c.label for c in order])


# ---------------------------------------------------------------- analysis

def contrasts(cfg, cells: list[dict]) -> list[tuple[str, str]]:
    """The paired tests: at each gold position, every longer context against the shortest."""
    out = []
    for where in WHERE:
        same = sorted((c for c in cells if c["meta"]["where"] == where),
                      key=lambda c: c["meta"]["n_docs"])
        out += [(same[0]["label"], c["label"]) for c in same[1:]]
    return out


def analyse(cfg, runs, info: dict) -> dict:
    from promptkit.evaluation.stats import mean_ci

    metric = cfg.primary_metric
    margin = info.get("margin", cfg.context_length.margin)
    rows = []
    for r in runs:
        row = an.estimate(r, metric)
        row.update(n_docs=r.cell["meta"]["n_docs"], where=r.cell["meta"]["where"],
                   prompt_tokens=_prompt_tokens([r]))
        rows.append(row)
    lengths = []
    for n in info.get("n_docs", sorted({r.cell["meta"]["n_docs"] for r in runs})):
        cells = [r for r in runs if r.cell["meta"]["n_docs"] == n]
        per_question = _pooled(cells, metric)
        est = mean_ci(list(per_question.values()), seed=cfg.seed) if per_question else None
        lengths.append({"n_docs": n, "prompt_tokens": _prompt_tokens(cells),
                        "mean": est.mean if est else None, "ci_low": est.low if est else None,
                        "ci_high": est.high if est else None, "n": len(per_question)})
    comparisons = an.compare_all(runs, contrasts(cfg, [r.cell for r in runs]), metric,
                                 alpha=cfg.alpha, seed=cfg.seed)
    return {"metric": metric, "rows": rows, "lengths": lengths, "margin": margin,
            "effective": effective_length(lengths, margin), "comparisons": comparisons,
            "findings": _findings(rows, lengths, margin)}


def _pooled(cells, metric: str) -> dict[str, float]:
    """Question id -> its mean over the gold positions (questions scored in every cell)."""
    values = [c.values(metric) for c in cells if c.run is not None]
    if not values:
        return {}
    common = set.intersection(*(set(v) for v in values))
    return {q: sum(v[q] for v in values) / len(values) for q in sorted(common)}


def _prompt_tokens(cells) -> float | None:
    from promptkit.pipeline.trace import mean_prompt_tokens

    return mean_prompt_tokens([rec for c in cells if c.run is not None for rec in c.run.records])


def effective_length(lengths: list[dict], margin: float) -> dict | None:
    """The longest context whose pooled accuracy, and every shorter one's, stays within
    `margin` of the shortest context's; None before the shortest has a result."""
    done = [r for r in lengths if r["mean"] is not None]
    if not done:
        return None
    floor = done[0]["mean"] - margin
    best = done[0]
    for r in done[1:]:
        if r["mean"] < floor:
            break
        best = r
    return {"n_docs": best["n_docs"], "prompt_tokens": best["prompt_tokens"],
            "floor": floor, "longest_tried": done[-1]["n_docs"],
            "holds_throughout": best is done[-1]}


def _findings(rows: list[dict], lengths: list[dict], margin: float) -> list[str]:
    done = [r for r in lengths if r["mean"] is not None]
    out = []
    if len(done) >= 2:
        first, last = done[0], done[-1]
        out.append(f"Pooled over gold positions: {first['mean']:.3f} with {first['n_docs']} "
                   f"passages (~{first['prompt_tokens'] or 0:.0f} prompt tokens), "
                   f"{last['mean']:.3f} with {last['n_docs']} "
                   f"(~{last['prompt_tokens'] or 0:.0f} tokens).")
    eff = effective_length(lengths, margin)
    if eff is not None and len(done) >= 2:
        if eff["holds_throughout"]:
            out.append(f"Effective length: at least {eff['n_docs']} passages "
                       f"(~{eff['prompt_tokens'] or 0:.0f} tokens), the longest tried — accuracy "
                       f"stays within {margin:.2f} of the shortest context's throughout.")
        else:
            out.append(f"Effective length: {eff['n_docs']} passages "
                       f"(~{eff['prompt_tokens'] or 0:.0f} tokens); longer contexts fall more than "
                       f"{margin:.2f} below the shortest context's accuracy.")
    return out


def plot(summary: dict, path) -> None:
    from promptkit.experiments.report import finish_accuracy, subplots

    a = summary["analysis"]
    fig, ax = subplots(figsize=(6.4, 4.0))
    for i, where in enumerate(WHERE):
        rows = sorted((r for r in a["rows"] if r["where"] == where and r["mean"] is not None
                       and r["prompt_tokens"] is not None), key=lambda r: r["n_docs"])
        if rows:
            ax.plot([r["prompt_tokens"] for r in rows], [r["mean"] for r in rows], marker="o",
                    color=f"C{i}", label=f"gold {where}")
    pooled = [r for r in a["lengths"] if r["mean"] is not None and r["prompt_tokens"]]
    if pooled:
        err = [[r["mean"] - r["ci_low"] for r in pooled],
               [r["ci_high"] - r["mean"] for r in pooled]]
        ax.errorbar([r["prompt_tokens"] for r in pooled], [r["mean"] for r in pooled], yerr=err,
                    color="black", ls="--", marker="s", capsize=4, label="pooled, 95% CI")
        for r in pooled:
            ax.annotate(f"{r['n_docs']}", (r["prompt_tokens"], r["mean"]), fontsize=8,
                        textcoords="offset points", xytext=(4, 4))
    finish_accuracy(fig, ax, path, xlabel="prompt tokens (mean per number of passages)",
                    metric=a["metric"],
                    title=f"Accuracy against context length — {summary['model']}")


def markdown(summary: dict) -> str:
    a = summary["analysis"]
    wheres = [w for w in WHERE if any(r["where"] == w for r in a["rows"])]
    lines = ["### Accuracy by number of passages and gold position", "",
             "| passages | prompt tokens | " + " | ".join(f"gold {w}" for w in wheres)
             + " | pooled [95% CI] | questions |",
             "|---|---|" + "---|" * len(wheres) + "---|---|"]
    for length in a["lengths"]:
        n = length["n_docs"]
        cells = {r["where"]: r for r in a["rows"] if r["n_docs"] == n}
        tokens = "–" if length["prompt_tokens"] is None else f"{length['prompt_tokens']:.0f}"
        lines.append(f"| {n} | {tokens} | "
                     + " | ".join(an.fmt_ci(cells[w]) if w in cells else "–" for w in wheres)
                     + f" | {an.fmt_ci(length)} | {length['n']} |")
    eff = a.get("effective")
    if eff is not None:
        lines += ["", f"Effective length (margin {a['margin']:.2f} below the shortest context's "
                      f"pooled accuracy, floor {eff['floor']:.3f}): **{eff['n_docs']} passages**"
                      + ("" if eff["prompt_tokens"] is None
                         else f", ~{eff['prompt_tokens']:.0f} prompt tokens")
                      + (" — the longest tried" if eff["holds_throughout"] else "") + "."]
    if a["comparisons"]:
        lines += ["", "#### Each longer context against the shortest, at the same gold position",
                  "", an.comparison_table(a["comparisons"], base_title="shortest")]
    return "\n".join(lines)
