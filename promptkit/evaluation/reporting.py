"""Markdown reports of a run and of a comparison (for the terminal, PRs and notebooks)."""

from __future__ import annotations

from promptkit.evaluation.comparison import LoadedRun, RunComparison


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cell(text) -> str:
    """Table-safe text: pipes and newlines would break a Markdown row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def run_overview(run: LoadedRun) -> list[tuple[str, str]]:
    """(label, value) pairs describing what the run did; shared by Markdown and HTML."""
    m = run.manifest
    ds = m.get("dataset", {})
    prompts = ", ".join(f"{k} ({v[:12]})" for k, v in m.get("prompts", {}).items()) or "–"
    summary = run.summary or {}
    status = m.get("status", "?") + ("" if summary.get("complete", False) else " (unfinished)")
    # A retrieval benchmark run asks no model: what it measured is an embedder.
    asked = ([("embedder", m.get("embedder", "–"))] if m.get("kind") == "retrieval" else
             [("model", m.get("model", "–")),
              ("prompt", f"{m.get('prompt_ref', '–')}; rendered: {prompts}")])
    return [
        ("run", run.id),
        ("status", status),
        *asked,
        ("pipeline", ", ".join(f"{k}={v}" for k, v in m.get("pipeline", {}).items()
                               if k not in ("prompt", "model") and v not in (None, {}, False))),
        ("dataset", f"{ds.get('path', '–')} ({ds.get('cases', '?')} cases, "
                    f"{ds.get('bad_records', 0)} bad records skipped, "
                    f"sha256 {ds.get('content_hash', '')[:12]})"),
        ("records", f"{summary.get('records', len(run.records))} "
                    f"(repeats: {m.get('repeats', 1)}, seed: {m.get('seed', 0)})"),
        *([] if m.get("kind") == "retrieval" else
          [("cache", str(m.get("cache_mode") or "default"))]),
        ("started / finished", f"{m.get('started', '–')} / {m.get('finished') or '–'}"),
        ("promptkit", m.get("promptkit_version", "?")),
    ]


def metric_rows(run: LoadedRun) -> list[dict]:
    """One row per metric from the run's summary (computed now if the run never finished)."""
    summary = run.summary
    if summary is None:
        from promptkit.evaluation.aggregate import summarise

        names = run.metric_names()
        summary = summarise(run.records, names, seed=run.manifest.get("seed", 0),
                            binary={n: run.metric_info(n).get("binary") for n in names})
    rows = []
    for name, s in summary.get("metrics", {}).items():
        outcomes = s.get("outcomes", {})
        rows.append({"metric": name, "mean": s.get("mean"), "ci_low": s.get("ci_low"),
                     "ci_high": s.get("ci_high"), "n": s.get("n_cases", 0),
                     "ok": outcomes.get("ok", 0), "unparsable": outcomes.get("unparsable", 0),
                     "error": outcomes.get("error", 0),
                     "self_agreement": s.get("self_agreement"),
                     "higher_is_better": run.metric_info(name).get("higher_is_better", True)})
    return rows


def breakdown(run: LoadedRun) -> dict | None:
    """Retrieval vs reader for a RAG run (None for closed-book and oracle runs)."""
    from promptkit.evaluation.breakdown import retrieval_vs_reader

    return retrieval_vs_reader(run.records, run.metric_names())


def run_markdown(run: LoadedRun) -> str:
    lines = [f"# Evaluation run `{run.id}`", ""]
    lines += [f"- **{label}**: {_cell(value)}" for label, value in run_overview(run)]
    lines += ["", "| metric | mean | 95% CI | cases | ok | unparsable | error |",
              "|---|---:|---|---:|---:|---:|---:|"]
    for r in metric_rows(run):
        ci = f"{fmt(r['ci_low'])} – {fmt(r['ci_high'])}" if r["mean"] is not None else "–"
        lines.append(f"| {r['metric']} | {fmt(r['mean'])} | {ci} | {r['n']} | {r['ok']} | "
                     f"{r['unparsable']} | {r['error']} |")
    agreement = [r for r in metric_rows(run) if r["self_agreement"] is not None]
    if agreement:
        lines += ["", "Self-agreement across repeats: " + ", ".join(
            f"{r['metric']} {r['self_agreement']:.0%}" for r in agreement)]
    split = breakdown(run)
    if split is not None:
        from promptkit.evaluation.breakdown import markdown as breakdown_markdown

        lines += breakdown_markdown(split)
    bad = (run.summary or {}).get("bad_records") or []
    if bad:
        lines += ["", f"Skipped {len(bad)} bad dataset record(s):"]
        lines += [f"- {b}" for b in bad[:20]]
    return "\n".join(lines) + "\n"


def compare_rows(cmp: RunComparison) -> list[dict]:
    rows = []
    for mc in cmp.metrics:
        r = mc.result
        if r is None:
            rows.append({"metric": mc.metric, "reason": mc.reason})
            continue
        rows.append({"metric": mc.metric, "a": r.mean_a, "b": r.mean_b, "delta": r.delta,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "test": r.test,
                     "p": r.p_value, "verdict": r.verdict, "n": r.n, "binary": r.binary,
                     "fixed": len(r.wins), "broken": len(r.losses), "note": r.note,
                     "higher_is_better": r.higher_is_better})
    return rows


def compare_markdown(cmp: RunComparison, *, show_cases: int = 10) -> str:
    lines = [f"# B `{cmp.b.id}` vs A `{cmp.a.id}`", ""]
    if cmp.changed_settings:
        lines.append("Changed settings: " + "; ".join(
            f"`{k}`: {fmt(a)} → {fmt(b)}" for k, (a, b) in cmp.changed_settings.items()))
        lines.append("")
    lines += [f"> {w}" for w in cmp.warnings]
    lines += ["", f"| metric | A | B | Δ (B−A) | {1 - cmp.alpha:.0%} CI of Δ | test | p | "
                  f"verdict for B | fixed / broken |",
              "|---|---:|---:|---:|---|---|---:|---|---:|"]
    for r in compare_rows(cmp):
        if "reason" in r:
            lines.append(f"| {r['metric']} | | | | | | | not compared: {r['reason']} | |")
            continue
        flips = f"{r['fixed']} / {r['broken']}" if r["binary"] else "–"
        lines.append(f"| {r['metric']} | {fmt(r['a'])} | {fmt(r['b'])} | {r['delta']:+.3f} | "
                     f"{r['ci_low']:+.3f} – {r['ci_high']:+.3f} | {r['test']} | {r['p']:.3g} | "
                     f"**{r['verdict']}** | {flips} |")
    notes = [(r["metric"], r["note"]) for r in compare_rows(cmp) if r.get("note")]
    if notes:
        lines += ["", "Notes:"] + [f"- {m}: {n}" for m, n in notes]
    a_cases, b_cases = cmp.a.by_id(), cmp.b.by_id()
    for mc in cmp.metrics:
        r = mc.result
        if r is None or not (r.wins or r.losses):
            continue
        lines += ["", f"## Flipped cases: {mc.metric}"]
        for label, ids in (("fixed by B", r.wins), ("broken by B", r.losses)):
            for cid in ids[:show_cases]:
                q = (b_cases.get(cid) or a_cases.get(cid) or {}).get("question", "")
                lines.append(f"- {label}: `{cid}` {_cell(q)[:100]}")
            if len(ids) > show_cases:
                lines.append(f"- ... and {len(ids) - show_cases} more {label}")
    return "\n".join(lines) + "\n"
