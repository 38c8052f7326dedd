"""The report page of an experiment: Markdown with its figure, written into the run folder."""

from __future__ import annotations

from pathlib import Path

from promptkit.experiments import analysis as an
from promptkit.experiments.registry import get_kind

REPORT = "report.md"
FIGURE = "figure.png"


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed, imported on use)."""
    try:
        import matplotlib
    except ImportError:
        from promptkit.errors import MissingDependencyError

        raise MissingDependencyError("experiment plots", "eval") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def subplots(*args, **kwargs):
    """A new figure and its axes (matplotlib's `subplots` on the file-only backend)."""
    return pyplot().subplots(*args, **kwargs)


def finish_accuracy(fig, ax, path, *, xlabel: str, metric: str, title: str) -> None:
    """An accuracy figure's axes (0..1), title and legend, then `save`."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    save(fig, path)


def save(fig, path) -> None:
    """Every kind's figure ends the same way: laid out, written at 120 dpi, closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(folder: str | Path, summary: dict) -> Path:
    """Draw the figure and write report.md beside the cell runs; returns the report's path."""
    folder = Path(folder)
    kind = get_kind(summary["kind"])
    has_data = any(c.get("metrics", {}).get(summary["primary_metric"]) for c in summary["cells"])
    if has_data:
        kind.plot(summary, folder / FIGURE)
    text = render(summary, kind.markdown(summary), figure=FIGURE if has_data else None)
    (folder / REPORT).write_text(text, encoding="utf-8")
    return folder / REPORT


def render(summary: dict, body: str, *, figure: str | None) -> str:
    t = summary["timing"]
    status = "complete" if summary["complete"] else \
        "NOT FINISHED (still running, or interrupted: resume with the same --run-dir)"
    lines = [
        f"# Experiment `{summary['name']}` — {summary['kind']}", "",
        f"- model: `{summary['model']}`; prompt: {summary['prompt']}; "
        f"generation: `{_params(summary['params'])}`",
        f"- metrics: {', '.join(summary['metrics'])} (plots and tests use "
        f"`{summary['primary_metric']}`; paired tests at alpha {summary['alpha']})",
        f"- cells: {len(summary['cells'])}; cases per cell: {_cases(summary)}; status: {status}",
        f"- wall time: {_duration(t.get('total_s'))} (building cells "
        f"{_duration(t.get('build_s'))}, running {_duration(t.get('cells_s'))}, over "
        f"{t.get('invocations')} invocation(s)); answering the {t.get('records')} cases "
        f"counted here took {_duration(t.get('cases_s'))}, {t.get('cache_hits')} of them "
        "answered from the response cache",
    ]
    if summary.get("command"):
        lines.append(f"- command: `{summary['command']}`")
    if summary.get("cache_modes"):
        lines.append(f"- response cache: {', '.join(summary['cache_modes'])}")
    machine = summary.get("machine") or {}
    if machine:
        lines.append(f"- machine: {machine.get('cpus')} CPU(s), {machine.get('platform')}, "
                     f"Python {machine.get('python')}")
    note = (summary.get("info") or {}).get("selection_note")
    if note:
        lines.append(f"- data: {note}")
    lines.append("")
    if figure:
        lines += [f"![{summary['kind']} figure]({figure})", ""]
    lines += ["## Results", "", body, ""]
    findings = summary.get("analysis", {}).get("findings") or []
    if findings:
        lines += ["## What it shows", ""] + [f"- {f}" for f in findings] + [""]
    lines += ["## Cells", "", _cells_table(summary), ""]
    return "\n".join(lines)


def _cells_table(summary: dict) -> str:
    metrics = summary["metrics"]
    head = "| cell | cases | " + " | ".join(f"{m} [95% CI]" for m in metrics) + \
        " | mean prompt tokens | wall s | harness run |"
    lines = [head, "|" + "---|" * (len(metrics) + 5)]
    for c in summary["cells"]:
        values = " | ".join(an.fmt_ci(c["metrics"].get(m) or {}) for m in metrics)
        run = f"cells/{c['label']}" if c.get("run_id") else "not started"
        wall = "–" if c.get("wall_s") is None else f"{c['wall_s']:.1f}"
        tokens = "–" if c.get("context_tokens") is None else f"{c['context_tokens']:.0f}"
        cases = str(c["cases"]) if c.get("answered", c["cases"]) == c["cases"] \
            else f"{c['answered']} of {c['cases']}"
        lines.append(f"| {c['title']} | {cases} | {values} | {tokens} | {wall} | {run} |")
    return "\n".join(lines)


def _cases(summary: dict) -> str:
    counts = sorted({c["cases"] for c in summary["cells"]})
    return ", ".join(str(n) for n in counts)


def _params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "prompt defaults"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
