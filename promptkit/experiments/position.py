"""position: the Lost in the Middle design (Liu et al., 2023) on any QA data and model.

Each question is asked with N passages: its gold passage and N-1 distractors that do not
contain an answer, the gold moved to every position in turn. Closed-book (no passages) and
oracle (the gold passage alone) runs bound the curve from below and above. Distractors come
from the case's own passages in their given (retrieval) order — LITM's files — or from a
Chroma collection (`retrieval.source: collection`), fetched once per question and reused by
every position.
"""

from __future__ import annotations

from promptkit.errors import ConfigError, UserError
from promptkit.experiments import analysis as an
from promptkit.experiments.cells import Cell, Context, Plan
from promptkit.experiments.data import (
    Selection,
    Truncator,
    gold_passages,
    has_answer,
    load_cases,
    make_dataset,
    passage,
    with_contexts,
)


def build(ctx: Context) -> Plan:
    cfg, s = ctx.cfg, ctx.cfg.position
    n = s.n_docs
    positions = s.positions if s.positions is not None else list(range(n))
    bad = [p for p in positions if not 0 <= p < n]
    if bad:
        raise ConfigError(f"positions {bad} are outside 0..{n - 1} for n_docs {n}",
                          path=cfg.source, field="position.positions")
    ds, sel = select_cases(ctx, n, hint="Each case needs a gold passage that contains an "
                                        f"answer and {n - 1} passages that do not.")
    basis = ctx.basis(ds.content_hash)
    cells = []
    for p in positions:
        cases = [with_contexts(c, d[:p] + [g] + d[p:], [g["id"]], gold_position=p)
                 for c, g, d in sel.cases]
        cells.append(Cell(f"gold-at-{p}", f"gold at {p + 1} of {n}",
                          make_dataset(f"gold-at-{p}", cases, ds.path, basis), cfg.prompt,
                          cfg.prompt, k=n, group="position", meta={"position": p}))
    check_fit(ctx, cells[0])
    if s.closed_book:
        cases = [with_contexts(c, None) for c, _g, _d in sel.cases]
        cells.append(Cell("closed-book", "closed-book (no passages)",
                          make_dataset("closed-book", cases, ds.path, basis), s.closed_book_prompt,
                          s.closed_book_prompt, mode="closed-book", k=1, group="baseline"))
    if s.oracle:
        cases = [with_contexts(c, [g], [g["id"]]) for c, g, _d in sel.cases]
        cells.append(Cell("oracle", "oracle (gold passage only)",
                          make_dataset("oracle", cases, ds.path, basis), cfg.prompt, cfg.prompt,
                          k=1, group="baseline"))
    ctx.notify(f"position: {sel.note()}; {n} passages per question")
    return Plan(cells, {"n_docs": n, "positions": positions, "selection": sel.to_dict(),
                        "selection_note": sel.note(), "passage_tokens": cfg.data.passage_tokens,
                        "data": ds.path, "distractors": cfg.retrieval.source
                        if cfg.retrieval.source == "collection" else "given passages, in order"},
                prefix_order=prefix_order(positions, oracle=s.oracle))


def prefix_order(positions: list[int], *, oracle: bool) -> list[str]:
    """Gold last to gold first: gold at p shares the instruction and the p-1 distractors before
    it with gold at p+1; the oracle (gold alone) then shares the gold passage with gold at 1."""
    labels = [f"gold-at-{p}" for p in sorted(positions, reverse=True)]
    return labels + (["oracle"] if oracle and 0 in positions else [])


def select_cases(ctx: Context, n: int, *, hint: str):
    """(dataset, Selection): up to `ctx.limit` cases, each with its gold passage and n-1
    distractors free of the answer; the others counted by why they could not be used."""
    ds = load_cases(ctx.cfg)
    truncate = Truncator(ctx.count_tokens, ctx.cfg.data.passage_tokens)
    distractors_for = distractor_source(ctx, n)
    sel = Selection()
    for case in ds.cases:
        if ctx.limit is not None and len(sel.cases) >= ctx.limit:
            break
        sel.seen += 1
        built, why = build_case(case, n, truncate, distractors_for)
        if built is None:
            sel.skipped[why] += 1
        else:
            sel.cases.append(built)
    if not sel.cases:
        raise UserError(f"no usable case in {ds.path}: {sel.note()}", hint=hint)
    return ds, sel


def build_case(case, n: int, truncate, candidates_for):
    """(case, gold passage, distractors) or (None, reason it cannot be used).

    The gold passage is the case's own (LITM) or, from a collection, the best-ranked gold
    chunk (any chunk when the case names no gold) that contains an answer.
    """
    from promptkit.experiments.retrieval import has_gold_info, is_gold

    candidates = candidates_for(case)
    golds = gold_passages(case)
    if not golds and case.contexts is None:
        golds = [c for c in candidates if not has_gold_info(case) or is_gold(case, c)]
    if not golds:
        return None, "without a gold passage"
    gold = next((passage(g, truncate(g["text"])) for g in golds
                 if has_answer(truncate(g["text"]), case.answers)), None)
    if gold is None:
        return None, ("with the answer cut from the gold passage" if truncate.max_tokens
                      else "whose gold passage lacks the answer")
    distractors = []
    for c in candidates:
        if c["id"] == gold["id"] or is_gold(case, c):
            continue
        text = truncate(c["text"])
        if text.strip() and not has_answer(text, case.answers):
            distractors.append(passage(c, text))
            if len(distractors) == n - 1:
                return (case, gold, distractors), None
    return None, f"with fewer than {n - 1} distractors free of the answer"


def distractor_source(ctx: Context, n: int):
    """Callable case -> candidate passages (enough for `n` passages), best first: its own, or
    retrieved once."""
    cfg = ctx.cfg
    if cfg.retrieval.source != "collection":
        return lambda case: case.contexts or []
    from promptkit.experiments.retrieval import collection_retriever

    search = collection_retriever(cfg)
    # Answer-bearing hits are skipped, so ask for well over N-1.
    return lambda case: search(case.question, 3 * n + 10)


def check_fit(ctx: Context, cell: Cell) -> None:
    """Stop before any model call when N passages overflow the window (packing would drop some)."""
    from promptkit.pipeline.pack import ContextChunk, pack

    pipe = ctx.pipeline(cell.prompt)
    worst = None
    for case in cell.dataset.cases:
        budget, _overhead = pipe.context_budget(case.question)
        chunks = [ContextChunk.from_any(c, i) for i, c in enumerate(case.contexts, start=1)]
        packing = pack(chunks, budget_tokens=budget, count_tokens=ctx.count_tokens)
        if packing.dropped or any(p.truncated for p in packing.chunks):
            worst = (case.id, budget)
            break
    if worst is not None:
        n = len(cell.dataset.cases[0].contexts)
        raise UserError(
            f"{n} passages do not fit {ctx.cfg.model}'s {ctx.model.context_window}-token window "
            f"(case {worst[0]}: {worst[1]} tokens left for passages after the prompt and "
            f"max_tokens)",
            hint="Lower position.n_docs, set data.passage_tokens (e.g. 64), or lower "
                 "params.max_tokens.")


# ---------------------------------------------------------------- analysis

def contrasts(cfg, cells: list[dict]) -> list[tuple[str, str]]:
    """The paired tests: each later position against the first."""
    ordered = sorted((c for c in cells if c.get("group") == "position"),
                     key=lambda c: c["meta"]["position"])
    return [(ordered[0]["label"], c["label"]) for c in ordered[1:]]


def analyse(cfg, runs, info: dict) -> dict:
    metric = cfg.primary_metric
    by_label = {r.label: r for r in runs}
    pos_runs = sorted((r for r in runs if r.cell.get("group") == "position"),
                      key=lambda r: r.cell["meta"]["position"])
    rows = []
    for r in pos_runs:
        row = an.estimate(r, metric)
        row["position"] = r.cell["meta"]["position"] + 1
        rows.append(row)
    baselines = {label: an.estimate(by_label[label], metric)
                 for label in ("closed-book", "oracle") if label in by_label}
    comparisons = an.compare_all(runs, contrasts(cfg, [r.cell for r in runs]), metric,
                                 alpha=cfg.alpha, seed=cfg.seed)
    return {"metric": metric, "n_docs": info.get("n_docs"),
            "unit": info.get("unit", "gold passage"), "items": info.get("items", "passages"),
            "positions": rows,
            "baselines": baselines, "vs_first": comparisons,
            "findings": _findings(rows, baselines)}


def _findings(rows: list[dict], baselines: dict) -> list[str]:
    done = [r for r in rows if r["mean"] is not None]
    if not done:
        return []
    best = max(done, key=lambda r: r["mean"])
    worst = min(done, key=lambda r: r["mean"])
    out = []
    if len(done) >= 2:
        out.append(f"Highest accuracy at position {best['position']} ({best['mean']:.3f}), "
                   f"lowest at position {worst['position']} ({worst['mean']:.3f}).")
    if len(done) >= 3:
        edges = (done[0]["mean"] + done[-1]["mean"]) / 2
        middle = sum(r["mean"] for r in done[1:-1]) / len(done[1:-1])
        shape = "above" if edges > middle else "not above"
        out.append(f"Mean of the two ends {edges:.3f} vs the middle positions {middle:.3f}: "
                   f"the ends are {shape} the middle.")
    for label, row in baselines.items():
        if row["mean"] is not None:
            out.append(f"{label}: {row['mean']:.3f}.")
    return out


def plot(summary: dict, path) -> None:
    from promptkit.experiments.report import finish_accuracy, subplots

    a = summary["analysis"]
    rows = [r for r in a["positions"] if r["mean"] is not None]
    fig, ax = subplots(figsize=(6.4, 4.0))
    if rows:
        x = [r["position"] for r in rows]
        y = [r["mean"] for r in rows]
        err = [[r["mean"] - r["ci_low"] for r in rows], [r["ci_high"] - r["mean"] for r in rows]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=4, color="C0",
                    label=f"{a['n_docs']} {a.get('items', 'items')}, 95% CI")
        ax.set_xticks(x)
    styles = {"closed-book": ("C3", ":"), "oracle": ("C2", "--")}
    for label, row in a["baselines"].items():
        if row["mean"] is not None:
            color, ls = styles.get(label, ("C7", "-."))
            ax.axhline(row["mean"], color=color, ls=ls, label=f"{label} {row['mean']:.2f}")
    finish_accuracy(fig, ax, path, xlabel=f"position of the {a['unit']} (1 = first)",
                    metric=a["metric"],
                    title=f"Accuracy by position of the {a['unit']} — {summary['model']}")


def markdown(summary: dict) -> str:
    a = summary["analysis"]
    lines = [f"### Accuracy by position of the {a['unit']} ({a['n_docs']} "
             f"{a.get('items', 'items')} in the prompt)",
             "", f"| position | {a['metric']} [95% CI] | cases |", "|---|---|---|"]
    for r in a["positions"]:
        lines.append(f"| {r['position']} | {an.fmt_ci(r)} | {r['n']} |")
    for label, r in a["baselines"].items():
        lines.append(f"| {label} | {an.fmt_ci(r)} | {r['n']} |")
    if a["vs_first"]:
        lines += ["", "#### Each position against position 1 (paired, same questions)", "",
                  an.comparison_table(a["vs_first"], base_title="position 1")]
    return "\n".join(lines)
