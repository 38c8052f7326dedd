"""k-sweep: answer quality against the number of retrieved passages and the tokens they take.

Retrieval runs once, at the largest k; each cell asks with the top-k prefix of the same list,
in ranked order. The retriever's recall@k (a gold passage among the top k) and answer-recall@k
(a passage containing an answer among them) are drawn beside the reader's accuracy: where the
curves part, the reader stops using what the retriever found.
"""

from __future__ import annotations

from promptkit.errors import UserError
from promptkit.experiments import analysis as an
from promptkit.experiments.cells import Cell, Context, Plan
from promptkit.experiments.data import Truncator, load_cases, make_dataset, with_contexts
from promptkit.experiments.retrieval import ranked_passages, relevant_ranks, usable_cases


def build(ctx: Context) -> Plan:
    cfg = ctx.cfg
    ks = cfg.k_sweep.ks
    ds = load_cases(cfg)
    cases, skipped = usable_cases(ctx, ds.cases)
    if not cases:
        raise UserError(f"no usable case in {ds.path} (skipped: {skipped})")
    truncate = Truncator(ctx.count_tokens, cfg.data.passage_tokens)
    ranked = ranked_passages(ctx, cases, max(ks), truncate)
    basis = ctx.basis(ds.content_hash)
    cells = []
    for k in ks:
        kcases = [with_contexts(c, ranked[c.id][:k], k=k) for c in cases]
        cells.append(Cell(f"k-{k}", f"k = {k}", make_dataset(f"k-{k}", kcases, ds.path, basis),
                          cfg.prompt, cfg.prompt, k=k, group="k", meta={"k": k}))
    ranks = {c.id: relevant_ranks(c, ranked[c.id]) for c in cases}
    note = f"{len(cases)} cases" + (f" ({skipped} left out)" if skipped else "")
    ctx.notify(f"k-sweep: {note}; retrieved top {max(ks)} once ({cfg.retrieval.source})")
    return Plan(cells, {"ks": ks, "ranks": ranks, "selection_note": note,
                        "retrieval": cfg.retrieval.model_dump(),
                        "passage_tokens": cfg.data.passage_tokens},
                # The top-k list of each k starts with the top-j list of every smaller j.
                prefix_order=[f"k-{k}" for k in sorted(ks)])


def _recall(ranks: dict, which: str, k: int, seed: int) -> dict:
    from promptkit.evaluation.stats import mean_ci

    values = [1.0 if r[which] is not None and r[which] <= k else 0.0 for r in ranks.values()]
    if not values:
        return {"mean": None, "ci_low": None, "ci_high": None}
    est = mean_ci(values, seed=seed)
    return {"mean": est.mean, "ci_low": est.low, "ci_high": est.high}


def _packed(run) -> float | None:
    """Mean passages the model really read (packing drops what overflows the window)."""
    if run.run is None or not run.run.records:
        return None
    counts = [len(r.get("contexts") or []) for r in run.run.records]
    return sum(counts) / len(counts)


def contrasts(cfg, cells: list[dict]) -> list[tuple[str, str]]:
    """The paired tests: each k against the next smaller one."""
    ordered = sorted(cells, key=lambda c: c["meta"]["k"])
    return [(a["label"], b["label"]) for a, b in zip(ordered, ordered[1:], strict=False)]


def analyse(cfg, runs, info: dict) -> dict:
    metric = cfg.primary_metric
    ranks = info.get("ranks", {})
    rows = []
    for r in sorted(runs, key=lambda r: r.cell["meta"]["k"]):
        k = r.cell["meta"]["k"]
        row = an.estimate(r, metric)
        row.update(k=k, recall=_recall(ranks, "gold", k, cfg.seed),
                   answer_recall=_recall(ranks, "answer", k, cfg.seed), packed=_packed(r),
                   context_tokens=_context_tokens(r))
        rows.append(row)
    comparisons = an.compare_all(runs, contrasts(cfg, [r.cell for r in runs]), metric,
                                 alpha=cfg.alpha, seed=cfg.seed)
    return {"metric": metric, "rows": rows, "steps": comparisons, "findings": _findings(rows)}


def _context_tokens(run) -> float | None:
    if run.run is None:
        return None
    from promptkit.pipeline.trace import used_context_tokens

    values = [v for v in map(used_context_tokens, run.run.records) if v is not None]
    return sum(values) / len(values) if values else None


def _findings(rows: list[dict]) -> list[str]:
    done = [r for r in rows if r["mean"] is not None]
    if not done:
        return []
    first, last = done[0], done[-1]
    best = max(done, key=lambda r: (r["mean"], -r["k"]))
    out = [f"Reader accuracy goes from {first['mean']:.3f} at k = {first['k']} to "
           f"{last['mean']:.3f} at k = {last['k']}"
           + (f" (highest, {best['mean']:.3f}, at k = {best['k']})." if best is not last
              and best is not first else ".")]
    rec_first, rec_last = first["recall"]["mean"], last["recall"]["mean"]
    if rec_first is not None and rec_last is not None and len(done) > 1:
        gain_reader, gain_retriever = last["mean"] - first["mean"], rec_last - rec_first
        out.append(f"Retriever recall@k goes from {rec_first:.3f} to {rec_last:.3f} over the "
                   f"same range: the retriever gains {gain_retriever:+.3f}, the reader "
                   f"{gain_reader:+.3f}; "
                   + ("most of what more passages bring in is not turned into answers."
                      if gain_retriever > 0 and gain_reader < gain_retriever / 2
                      else "the reader keeps pace with the retriever."))
        if rec_first and rec_last:
            out.append(f"Accuracy per unit of recall: {first['mean'] / rec_first:.2f} at "
                       f"k = {first['k']}, {last['mean'] / rec_last:.2f} at k = {last['k']}.")
    if last.get("context_tokens") and first.get("context_tokens"):
        out.append(f"Passages take {first['context_tokens']:.0f} tokens at k = {first['k']} "
                   f"and {last['context_tokens']:.0f} at k = {last['k']}.")
    return out


def plot(summary: dict, path) -> None:
    from promptkit.experiments.report import save, subplots

    a = summary["analysis"]
    rows = [r for r in a["rows"] if r["mean"] is not None]
    fig, (left, right) = subplots(1, 2, figsize=(10, 4.0))
    ks = [r["k"] for r in rows]
    _band(left, ks, rows, "C0", f"reader {a['metric']}")
    _band(left, ks, [r["recall"] for r in rows], "C1", "retriever recall@k (gold)", ls="--")
    _band(left, ks, [r["answer_recall"] for r in rows], "C2", "answer in top k", ls=":")
    left.set_xlabel("k (passages retrieved)")
    left.set_ylabel("share of questions")
    left.set_ylim(0, 1.02)
    left.set_xticks(ks)
    left.legend(fontsize=8)
    toks = [r.get("context_tokens") for r in rows]
    if all(t is not None for t in toks) and rows:
        _band(right, toks, rows, "C0", f"reader {a['metric']}")
        for r, t in zip(rows, toks, strict=True):
            right.annotate(f"k={r['k']}", (t, r["mean"]), fontsize=8, xytext=(3, 3),
                           textcoords="offset points")
        right.set_xlabel("passage tokens in the prompt (mean)")
        right.set_ylim(0, 1.02)
        right.set_ylabel(a["metric"])
    fig.suptitle(f"Quality vs k — {summary['model']}", fontsize=10)
    save(fig, path)


def _band(ax, xs, rows, color, label, ls="-"):
    ys = [r["mean"] for r in rows]
    ax.plot(xs, ys, marker="o", color=color, ls=ls, label=label)
    if all(r.get("ci_low") is not None for r in rows):
        ax.fill_between(xs, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows],
                        color=color, alpha=0.15)


def markdown(summary: dict) -> str:
    a = summary["analysis"]
    lines = [f"| k | reader {a['metric']} [95% CI] | recall@k (gold) | answer in top k | "
             "passages packed | passage tokens |", "|---|---|---|---|---|---|"]
    for r in a["rows"]:
        packed = "–" if r["packed"] is None else f"{r['packed']:.2f}"
        toks = "–" if r["context_tokens"] is None else f"{r['context_tokens']:.0f}"
        lines.append(f"| {r['k']} | {an.fmt_ci(r)} | {an.fmt_ci(r['recall'])} | "
                     f"{an.fmt_ci(r['answer_recall'])} | {packed} | {toks} |")
    if a["steps"]:
        lines += ["", "#### Each k against the previous one (paired)", "",
                  an.comparison_table(a["steps"], base_title="previous k")]
    return "\n".join(lines)
