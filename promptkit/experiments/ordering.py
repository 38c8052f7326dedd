"""ordering: the same top-k passages arranged ranked, reversed or edges, compared case by case.

Retrieval runs once; every cell gets the identical passages with their retrieval ranks, and the
pipeline's packer arranges them (`ranked`: best first; `reversed`: best next to the question;
`edges`: best at both ends). Each order is compared with the baseline order by a paired test.
"""

from __future__ import annotations

from promptkit.errors import UserError
from promptkit.experiments import analysis as an
from promptkit.experiments.cells import Cell, Context, Plan
from promptkit.experiments.data import Truncator, load_cases, make_dataset, with_contexts
from promptkit.experiments.retrieval import ranked_passages, relevant_ranks, usable_cases

TITLES = {"ranked": "ranked (best first)", "reversed": "reversed (best last)",
          "edges": "edges (best at both ends)"}


def build(ctx: Context) -> Plan:
    cfg, s = ctx.cfg, ctx.cfg.ordering
    ds = load_cases(cfg)
    cases, skipped = usable_cases(ctx, ds.cases)
    if not cases:
        raise UserError(f"no usable case in {ds.path} (skipped: {skipped})")
    truncate = Truncator(ctx.count_tokens, cfg.data.passage_tokens)
    ranked = ranked_passages(ctx, cases, s.k, truncate)
    basis = ctx.basis(ds.content_hash)
    orders = [s.baseline] + [o for o in s.orders if o != s.baseline]
    kcases = [with_contexts(c, ranked[c.id]) for c in cases]
    cells = [Cell(f"order-{o}", TITLES[o], make_dataset(f"order-{o}", kcases, ds.path, basis),
                  cfg.prompt, cfg.prompt, order=o, k=s.k, group="order", meta={"order": o})
             for o in orders]
    ranks = {c.id: relevant_ranks(c, ranked[c.id]) for c in cases}
    note = f"{len(cases)} cases" + (f" ({skipped} left out)" if skipped else "")
    ctx.notify(f"ordering: {note}; top {s.k} retrieved once ({cfg.retrieval.source})")
    return Plan(cells, {"k": s.k, "baseline": s.baseline, "ranks": ranks, "selection_note": note,
                        "retrieval": cfg.retrieval.model_dump(),
                        "passage_tokens": cfg.data.passage_tokens})


def _gold_positions(run, ranks: dict) -> dict:
    """Where the first gold passage sat in the prompt (1 = first), over cases that had one."""
    if run.run is None:
        return {}
    positions = []
    for rec in run.run.records:
        rank = (ranks.get(rec["id"]) or {}).get("gold")
        if rank is None:
            continue
        packed = rec.get("contexts") or []
        gold_ids = set(rec.get("gold_ids") or [])
        at = next((p.get("position") for p in packed if p.get("id") in gold_ids), None)
        if at is not None:
            positions.append(at)
    if not positions:
        return {}
    return {"mean": sum(positions) / len(positions), "n": len(positions)}


def contrasts(cfg, cells: list[dict]) -> list[tuple[str, str]]:
    """The paired tests: every order against the baseline order."""
    base = next((c for c in cells if c["meta"]["order"] == cfg.ordering.baseline), None)
    if base is None:
        return []
    return [(base["label"], c["label"]) for c in cells if c is not base]


def analyse(cfg, runs, info: dict) -> dict:
    metric = cfg.primary_metric
    ranks = info.get("ranks", {})
    rows = []
    for r in runs:
        row = an.estimate(r, metric)
        row.update(order=r.cell["meta"]["order"], gold_position=_gold_positions(r, ranks))
        rows.append(row)
    comparisons = an.compare_all(runs, contrasts(cfg, [r.cell for r in runs]), metric,
                                 alpha=cfg.alpha, seed=cfg.seed)
    with_gold = sum(1 for v in ranks.values() if v.get("gold") is not None)
    return {"metric": metric, "k": info.get("k"), "baseline": info.get("baseline"),
            "rows": rows, "vs_baseline": comparisons, "gold_retrieved": with_gold,
            "cases": len(ranks), "findings": _findings(rows, comparisons, info)}


def _findings(rows, comparisons, info) -> list[str]:
    done = [r for r in rows if r["mean"] is not None]
    if not done:
        return []
    best = max(done, key=lambda r: r["mean"])
    out = [f"Best order: {best['order']} ({best['mean']:.3f})."]
    for c in comparisons:
        if "delta" in c:
            out.append(f"{c['title']} vs {info.get('baseline')}: {c['delta']:+.3f} "
                       f"({c['test']}, p = {an.fmt_p(c['p_value'])}): {c['verdict']}.")
    return out


def plot(summary: dict, path) -> None:
    from promptkit.experiments.report import save, subplots

    a = summary["analysis"]
    rows = [r for r in a["rows"] if r["mean"] is not None]
    fig, ax = subplots(figsize=(6.0, 4.0))
    x = range(len(rows))
    means = [r["mean"] for r in rows]
    err = [[r["mean"] - r["ci_low"] for r in rows], [r["ci_high"] - r["mean"] for r in rows]]
    ax.bar(x, means, yerr=err, capsize=5, color=["C0", "C1", "C2", "C3"][:len(rows)])
    ax.set_xticks(list(x), [r["order"] for r in rows])
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"{a['metric']} (95% CI)")
    ax.set_title(f"Passage order, top {a['k']} — {summary['model']}", fontsize=10)
    save(fig, path)


def markdown(summary: dict) -> str:
    a = summary["analysis"]
    lines = [f"Top {a['k']} passages; a gold passage was retrieved for {a['gold_retrieved']} of "
             f"{a['cases']} cases.", "",
             f"| order | {a['metric']} [95% CI] | cases | "
             "gold passage's mean position in the prompt |",
             "|---|---|---|---|"]
    for r in a["rows"]:
        gp = r["gold_position"]
        where = f"{gp['mean']:.2f} (n={gp['n']})" if gp else "–"
        lines.append(f"| {r['title']} | {an.fmt_ci(r)} | {r['n']} | {where} |")
    if a["vs_baseline"]:
        lines += ["", f"#### Each order against {a['baseline']} (paired, same passages)", "",
                  an.comparison_table(a["vs_baseline"], base_title=a["baseline"])]
    return "\n".join(lines)
