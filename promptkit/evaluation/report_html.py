"""A self-contained HTML report: inline CSS, charts as data URIs, per-case drill-down.

One file that opens anywhere (mail it, attach it to a CI job): no external CSS, fonts, scripts
or images. Everything taken from a run (questions, answers, retrieved text) is HTML-escaped.
"""

from __future__ import annotations

import base64
from html import escape

from promptkit.evaluation.comparison import LoadedRun, RunComparison
from promptkit.evaluation.records import RunRecord
from promptkit.evaluation.reporting import breakdown, compare_rows, fmt, metric_rows, run_overview

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
  max-width:70rem;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;
  text-align:left;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;
  font-variant-numeric:tabular-nums}
.better{color:#1a7f37;font-weight:600}.worse{color:#c0392b;font-weight:600}
.meta td:first-child{font-weight:600;white-space:nowrap}
details{border:1px solid #ddd;border-radius:4px;margin:.3rem 0;padding:.3rem .6rem}
summary{cursor:pointer}pre{white-space:pre-wrap;background:#f7f7f7;padding:.4rem;margin:.2rem 0}
.ctx{font-size:.85rem;color:#444}.warn{color:#c0392b}.tag{display:inline-block;padding:0 .4rem;
  border-radius:3px;background:#eee;margin-right:.3rem;font-size:.8rem}
img.chart{max-width:100%;display:block;margin:.5rem 0}
"""

# Marks charts that failed to decode, visibly for readers and as an attribute for tests.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img.chart"), ok = 0;
  imgs.forEach(function (im) {
    if (im.complete && im.naturalWidth > 0) { ok++; }
    else { im.insertAdjacentHTML("afterend", "<p class='warn'>this chart failed to render</p>"); }
  });
  document.body.setAttribute("data-charts-rendered", ok + "/" + imgs.length);
});
"""

CONTEXT_CHARS = 1500  # per retrieved passage in the drill-down; keeps big runs' pages usable


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(head: list[str], rows: list[list[str]], num_cols: set[int] = frozenset()) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in num_cols else f"<td>{c}</td>"
                        for i, c in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    return "\n".join(out) + "</table>"


def _run_section(run: LoadedRun, label: str) -> str:
    from promptkit.evaluation.charts import metrics_chart

    meta = "<table class='meta'>" + "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in run_overview(run)
    ) + "</table>"
    rows = metric_rows(run)
    table = _table(["metric", "mean", "95% CI", "cases", "ok", "unparsable", "error"], [
        [escape(r["metric"]), fmt(r["mean"]),
         f"{fmt(r['ci_low'])} – {fmt(r['ci_high'])}" if r["mean"] is not None else "–",
         str(r["n"]), str(r["ok"]), str(r["unparsable"]), str(r["error"])] for r in rows],
        num_cols={1, 3, 4, 5, 6})
    chart = _img(metrics_chart(rows, f"{label}: {run.id}"), f"metric means of {run.id}")
    split = breakdown(run)
    split_html = _breakdown_html(split) if split is not None else ""
    bad = (run.summary or {}).get("bad_records") or []
    bad_html = ("<p>Skipped bad dataset records:</p><ul>"
                + "".join(f"<li>{escape(b)}</li>" for b in bad) + "</ul>") if bad else ""
    return f"{meta}\n{table}\n{chart}\n{split_html}\n{bad_html}"


def _breakdown_html(b: dict) -> str:
    t = b["table"]
    table = _table(["", "evidence retrieved", "evidence missed"], [
        ["correct", str(t["correct"]["retrieved"]), str(t["correct"]["missed"])],
        ["wrong", f"{t['wrong']['retrieved']} (reader)", f"{t['wrong']['missed']} (retrieval)"]],
        num_cols={1, 2})
    if b["wrong"]:
        said = (f"Of {b['wrong']} wrong answers, {b['retrieval_errors']} "
                f"({b['retrieval_share']:.0%}) had no evidence retrieved and {b['reader_errors']} "
                "had it and were still wrong.")
    else:
        said = "No wrong answers."
    ids = "".join(
        f"<li>{label}: " + ", ".join(f"<code>{escape(i)}</code>" for i in b[key][:20]) + "</li>"
        for label, key in (("reader errors", "reader_error_ids"),
                           ("retrieval errors", "retrieval_error_ids")) if b[key])
    return (f"<h3 id='retrieval-vs-reader'>Retrieval vs reader</h3>"
            f"<p>Correct by <code>{escape(b['correct_by'])}</code>; evidence = a passage given "
            f"to the model from a gold document holding a reference answer.</p>"
            f"{table}<p>{escape(said)}</p>" + (f"<ul>{ids}</ul>" if ids else ""))


def _compare_section(cmp: RunComparison) -> str:
    from promptkit.evaluation.charts import compare_chart

    rows = compare_rows(cmp)
    body = []
    for r in rows:
        if "reason" in r:
            body.append([escape(r["metric"]), "", "", "", "", "", "", escape(r["reason"]), ""])
            continue
        verdict = f'<span class="{escape(r["verdict"])}">{escape(r["verdict"])}</span>'
        body.append([escape(r["metric"]), fmt(r["a"]), fmt(r["b"]), f"{r['delta']:+.3f}",
                     f"{r['ci_low']:+.3f} – {r['ci_high']:+.3f}", escape(r["test"]),
                     f"{r['p']:.3g}", verdict,
                     f"{r['fixed']} / {r['broken']}" if r["binary"] else "–"])
    changed = "".join(f"<li><code>{escape(k)}</code>: {escape(fmt(a))} → {escape(fmt(b))}</li>"
                      for k, (a, b) in cmp.changed_settings.items())
    warnings = "".join(f'<p class="warn">{escape(w)}</p>' for w in cmp.warnings)
    notes = "".join(f"<li>{escape(r['metric'])}: {escape(r['note'])}</li>"
                    for r in rows if r.get("note"))
    return (f"<p>B = <code>{escape(cmp.b.id)}</code>, A = <code>{escape(cmp.a.id)}</code>; "
            f"significance level {cmp.alpha:g}.</p>"
            + (f"<p>Changed settings:</p><ul>{changed}</ul>" if changed else "") + warnings
            + _table(["metric", "A", "B", "Δ (B−A)", f"{1 - cmp.alpha:.0%} CI of Δ", "test", "p",
                      "verdict for B", "fixed / broken"], body, num_cols={1, 2, 3, 6})
            + (f"<ul>{notes}</ul>" if notes else "")
            + _img(compare_chart(rows, cmp.alpha), "difference per metric with CI"))


def _contexts_html(rec: dict) -> str:
    # The packed passages with their text when the run kept them, else the trace's ids.
    from promptkit.pipeline import trace as traces

    trace = rec.get("trace", {})
    retrieved = (rec.get("contexts") or traces.retrieved(trace)
                 or [{"id": i} for i in trace.get("retrieved_ids") or []])
    if not retrieved:
        return "<p class='ctx'>no retrieved context (closed-book or not recorded)</p>"
    items = []
    for pos, hit in enumerate(retrieved, start=1):
        text = str(hit.get("text", ""))
        if len(text) > CONTEXT_CHARS:
            text = text[:CONTEXT_CHARS] + " …"
        score = hit.get("score")
        head = f"[{hit.get('position') or pos}] {hit.get('id', '?')}"
        head += f" · {hit.get('source')}" if hit.get("source") else ""
        head += f" · score {score:.3f}" if isinstance(score, int | float) else ""
        items.append(f"<div class='ctx'><b>{escape(head)}</b><pre>{escape(text)}</pre></div>")
    return "".join(items)


def _scores_html(rec: RunRecord) -> str:
    parts = []
    for name, s in (rec.get("scores") or {}).items():
        value = s.get("value")
        shown = fmt(value) if s.get("outcome") == "ok" else s.get("outcome", "?")
        parts.append(f"<span class='tag'>{escape(name)}: {escape(str(shown))}</span>")
    return "".join(parts)


def _verdicts_html(rec: RunRecord) -> str:
    """Per-claim verdicts of the grounding metrics (faithfulness, context recall)."""
    blocks = []
    for name, s in (rec.get("scores") or {}).items():
        claims = (s.get("detail") or {}).get("claims")
        if not isinstance(claims, list) or not claims:
            continue
        rows = "".join(f"<li><span class='tag'>{escape(str(c.get('verdict')))}</span>"
                       f"{escape(str(c.get('claim')))} <span class='ctx'>"
                       f"{escape(str(c.get('reason') or ''))}</span></li>" for c in claims)
        blocks.append(f"<p><b>{escape(name)}: claims</b></p><ul>{rows}</ul>")
    return "".join(blocks)


def _ranking_html(rec: RunRecord, other: RunRecord | None) -> str:
    """A retrieval benchmark's query: its judged documents and each run's ranking, relevant
    documents marked."""
    from promptkit.evaluation.metrics_retrieval import relevance

    gold = relevance(rec.get("gold_ids") or {})

    def ranked(r: dict, tag: str) -> str:
        items = "".join(f"<li>{'<b>' if d in gold else ''}{escape(str(d))}"
                        f"{' ✓</b>' if d in gold else ''}</li>"
                        for d in r.get("retrieved_ids") or [])
        return f"<p><b>Ranking{tag}</b> {_scores_html(r)}</p><ol>{items}</ol>"

    judged = "".join(f"<li>{escape(str(d))} (grade {escape(str(g))})</li>"
                     for d, g in gold.items())
    return (f"<p><b>Relevant documents</b></p><ul>{judged}</ul>"
            + ranked(rec, " (A)" if other else "") + (ranked(other, " (B)") if other else ""))


def _case_html(rec: RunRecord, other: RunRecord | None) -> str:
    question = str(rec.get("question", ""))
    short = question if len(question) <= 120 else question[:117] + "…"
    head = (f"<details><summary><code>{escape(str(rec['id']))}</code> {escape(short)}</summary>"
            f"<p><b>Question</b></p><pre>{escape(question)}</pre>")
    if "answer" not in rec and "retrieved_ids" in rec:
        return head + _ranking_html(rec, other) + "</details>"
    answers = "".join(f"<li>{escape(str(a))}</li>" for a in rec.get("answers", []))
    answer_block = (f"<p><b>Answer{' (A)' if other else ''}</b> {_scores_html(rec)}</p>"
                    f"<pre>{escape(str(rec.get('answer', '')))}</pre>")
    if other:
        answer_block += (f"<p><b>Answer (B)</b> {_scores_html(other)}</p>"
                         f"<pre>{escape(str(other.get('answer', '')))}</pre>")
    return (head + f"<p><b>Reference answers</b></p><ul>{answers}</ul>"
            f"{answer_block}{_verdicts_html(rec)}<p><b>Retrieved context</b></p>"
            f"{_contexts_html(rec)}</details>")


def render_html(run: LoadedRun, comparison: RunComparison | None = None, *,
                max_cases: int = 1000) -> str:
    """The whole page for one run, optionally with its comparison against another run."""
    title = f"promptkit report: {run.id}"
    sections = [f"<h1>{escape(title)}</h1>", "<h2>Run</h2>",
                _run_section(run, "A" if comparison else "run")]
    if comparison is not None:
        sections += ["<h2>Comparison</h2>", _compare_section(comparison),
                     "<h2>Run B</h2>", _run_section(comparison.b, "B")]
    others = comparison.b.by_id() if comparison is not None else {}
    cases = list(run.by_id().values())
    sections.append(f"<h2>Cases ({len(cases)})</h2>")
    if len(cases) > max_cases:
        sections.append(f"<p>Showing the first {max_cases}.</p>")
    sections += [_case_html(rec, others.get(rec["id"])) for rec in cases[:max_cases]]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(sections) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")
