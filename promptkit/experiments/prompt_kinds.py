"""prompt-kinds: zero-shot vs few-shot vs role prompts, each against a no-persona control.

The design of "Personas in System Prompts Do Not Improve Performances of Large Language Models"
(Zheng et al., 2024): one control prompt without a persona; the same prompt with a persona in
the speaker form ("You are a {role}") and the audience form ("You are talking to a {role}");
and, for the few-shot side, the control plus n worked examples chosen in a fixed, seeded-random
or semantic way. Every cell asks the same questions with the same passages, so each one is
compared with the control by a paired test (Holm-corrected across cells).
"""

from __future__ import annotations

import re

from promptkit.errors import UserError
from promptkit.experiments import analysis as an
from promptkit.experiments.binding import bind
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

GROUP_COLORS = {"control": "C7", "few-shot": "C0", "persona": "C1"}


def _case_contexts(case, how: str, truncate):
    if how == "gold":
        golds = [passage(g, truncate(g["text"])) for g in gold_passages(case)]
        if not golds:
            return None, "without a gold passage"
        if not any(has_answer(g["text"], case.answers) for g in golds):
            return None, "with the answer cut from the gold passage"
        return golds, None
    if not case.contexts:
        return None, "without passages"
    return [passage(c, truncate(c["text"])) for c in case.contexts], None


def build(ctx: Context) -> Plan:
    cfg, s = ctx.cfg, ctx.cfg.prompt_kinds
    ds = load_cases(cfg)
    truncate = Truncator(ctx.count_tokens, cfg.data.passage_tokens)
    sel = Selection()
    for case in ds.cases:
        if ctx.limit is not None and len(sel.cases) >= ctx.limit:
            break
        sel.seen += 1
        if not case.answers:
            sel.skipped["without answers"] += 1
            continue
        contexts, why = _case_contexts(case, s.contexts, truncate)
        if contexts is None:
            sel.skipped[why] += 1
        else:
            sel.cases.append(with_contexts(case, contexts))
    if not sel.cases:
        raise UserError(f"no usable case in {ds.path}: {sel.note()}")
    basis = ctx.basis(ds.content_hash)

    def cell(label, title, prompt, ref, group, **meta) -> Cell:
        return Cell(label, title, make_dataset(label, sel.cases, ds.path, basis), prompt, ref,
                    group=group, meta=meta)

    cells = [cell("control", f"control: {s.control} (zero-shot, no persona)", s.control,
                  s.control, "control")]
    if s.few_shot is not None:
        cells += _few_shot_cells(s.few_shot, cell)
    if s.personas is not None:
        cells += _persona_cells(s.personas, cell)
    ctx.notify(f"prompt-kinds: {sel.note()}; {len(cells)} cells")
    return Plan(cells, {"selection": sel.to_dict(), "selection_note": sel.note(),
                        "contexts": s.contexts, "control": s.control,
                        "passage_tokens": cfg.data.passage_tokens})


def _few_shot_cells(fs, cell) -> list[Cell]:
    embedder = None
    if "semantic" in fs.selection:
        from promptkit.embedders import get_embedder

        embedder = get_embedder(fs.embedder)
    out = []
    for n in fs.n:
        for method in fs.selection:
            note = f"{n} example(s), {method} selection"
            prompt = bind(fs.prompt, selection={"method": method, "k": n},
                          embedder=embedder if method == "semantic" else None, note=note)
            out.append(cell(f"fewshot-{method}-{n}", f"few-shot: {note}", prompt,
                            f"{fs.prompt}[{method}, n={n}]", "few-shot", n=n, selection=method))
    return out


def _persona_cells(ps, cell) -> list[Cell]:
    out = []
    for role in ps.roles:
        for form in ps.forms:
            ref = ps.speaker_prompt if form == "speaker" else ps.audience_prompt
            prompt = bind(ref, variables={"role": role}, note=f"role: {role}")
            first_line = prompt.system.strip().splitlines()[0] if prompt.system.strip() else role
            slug = re.sub(r"[^a-z0-9]+", "-", role.lower()).strip("-") or "role"
            out.append(cell(f"persona-{form}-{slug}", f'{form}: "{first_line}"', prompt,
                            f"{ref}[role={role}]", "persona", role=role, form=form))
    return out


def contrasts(cfg, cells: list[dict]) -> list[tuple[str, str]]:
    """The paired tests: every variant against the zero-shot control."""
    control = next((c for c in cells if c.get("group") == "control"), None)
    if control is None:
        return []
    return [(control["label"], c["label"]) for c in cells if c is not control]


def analyse(cfg, runs, info: dict) -> dict:
    metric = cfg.primary_metric
    rows = [dict(an.estimate(r, metric), group=r.cell.get("group"), meta=r.cell.get("meta", {}))
            for r in runs]
    groups = {r.label: r.cell.get("group") for r in runs}
    comparisons = [dict(c, group=groups[c["cell"]]) for c in
                   an.compare_all(runs, contrasts(cfg, [r.cell for r in runs]), metric,
                                  alpha=cfg.alpha, seed=cfg.seed)]
    return {"metric": metric, "control": info.get("control"), "rows": rows,
            "vs_control": comparisons, "findings": _findings(rows, comparisons)}


def _findings(rows, comparisons) -> list[str]:
    done = [r for r in rows if r["mean"] is not None]
    if not done:
        return []
    out = []
    control = next((r for r in done if r["group"] == "control"), None)
    if control:
        out.append(f"Control: {control['mean']:.3f}.")
    for group in ("few-shot", "persona"):
        cs = [c for c in comparisons if c.get("group") == group and "delta" in c]
        if not cs:
            continue
        better = [c for c in cs if c.get("significant_holm") and c["verdict"] == "better"]
        worse = [c for c in cs if c.get("significant_holm") and c["verdict"] == "worse"]
        mean_delta = sum(c["delta"] for c in cs) / len(cs)
        out.append(f"{group}: {len(cs)} cells, mean change {mean_delta:+.3f}; after Holm's "
                   f"correction {len(better)} significantly better, {len(worse)} significantly "
                   f"worse than the control.")
    return out


def plot(summary: dict, path) -> None:
    from promptkit.experiments.report import save, subplots

    a = summary["analysis"]
    rows = [r for r in a["rows"] if r["mean"] is not None]
    fig, ax = subplots(figsize=(7.5, 0.35 * len(rows) + 1.6))
    y = list(range(len(rows)))[::-1]
    for yi, r in zip(y, rows, strict=True):
        ax.errorbar(r["mean"], yi, xerr=[[r["mean"] - r["ci_low"]], [r["ci_high"] - r["mean"]]],
                    fmt="o", capsize=3, color=GROUP_COLORS.get(r["group"], "C2"))
    control = next((r for r in rows if r["group"] == "control"), None)
    if control:
        ax.axvline(control["mean"], color="C7", ls="--", lw=1)
        ax.axvspan(control["ci_low"], control["ci_high"], color="C7", alpha=0.12)
    ax.set_yticks(y, [r["title"][:60] for r in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{a['metric']} (95% CI); dashed: control")
    ax.set_title(f"Prompt kinds — {summary['model']}", fontsize=10)
    save(fig, path)


def markdown(summary: dict) -> str:
    a = summary["analysis"]
    lines = [f"| cell | group | {a['metric']} [95% CI] | cases |", "|---|---|---|---|"]
    for r in a["rows"]:
        lines.append(f"| {r['title']} | {r['group']} | {an.fmt_ci(r)} | {r['n']} |")
    if a["vs_control"]:
        lines += ["", "#### Each cell against the control (paired, same questions and passages)",
                  "", an.comparison_table(a["vs_control"], base_title="control")]
    return "\n".join(lines)
