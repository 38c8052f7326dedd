"""Report charts as PNG bytes (matplotlib, Agg backend, imported only when a chart is drawn)."""

from __future__ import annotations

import io

from promptkit.errors import MissingDependencyError


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError("charts in HTML reports", "eval") from exc
    matplotlib.use("Agg")  # no display here, and none needed: charts go into a file
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _errors(rows: list[dict], lo: str = "ci_low", hi: str = "ci_high", mid: str = "mean"):
    """Asymmetric error bar lengths from a CI (0 where there is none)."""
    below = [max(r[mid] - r[lo], 0.0) if r.get(lo) is not None else 0.0 for r in rows]
    above = [max(r[hi] - r[mid], 0.0) if r.get(hi) is not None else 0.0 for r in rows]
    return [below, above]


def metrics_chart(rows: list[dict], title: str) -> bytes | None:
    """Bars of each metric's mean with its 95% CI; lower-is-better metrics get their own panel.

    Quality metrics share a 0..1 axis; latency and token counts live on their own scales, so
    each is drawn in a separate small panel rather than squashing the others.
    """
    rows = [r for r in rows if r.get("mean") is not None]
    if not rows:
        return None
    plt = _pyplot()
    quality = [r for r in rows if r.get("higher_is_better", True)]
    costs = [r for r in rows if not r.get("higher_is_better", True)]
    panels = (1 if quality else 0) + len(costs)
    widths = ([max(len(quality), 2)] if quality else []) + [1.2] * len(costs)
    fig, axes = plt.subplots(1, panels, figsize=(1.1 * sum(widths) + 1.5, 3.2), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    axes = list(axes[0])
    if quality:
        ax = axes.pop(0)
        ax.bar(range(len(quality)), [r["mean"] for r in quality], yerr=_errors(quality),
               capsize=4, color="#4c78a8")
        ax.set_xticks(range(len(quality)), [r["metric"] for r in quality], rotation=30, ha="right")
        ax.set_ylim(0, max(1.0, max(r.get("ci_high") or r["mean"] for r in quality) * 1.05))
        ax.set_ylabel("mean (95% CI)")
        ax.set_title(title, fontsize=10)
    for ax, r in zip(axes, costs, strict=True):
        ax.bar([0], [r["mean"]], yerr=_errors([r]), capsize=4, color="#e45756")
        ax.set_xticks([0], [r["metric"]])
        ax.set_title("lower is better", fontsize=8)
    return _png(fig)


def compare_chart(rows: list[dict], alpha: float) -> bytes | None:
    """Per-metric difference B−A with its CI; the dashed line is 'no difference'.

    Only quality metrics are drawn: latency and token deltas are on other scales (see the table).
    """
    rows = [r for r in rows if r.get("delta") is not None and r.get("higher_is_better", True)]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(rows) + 1.2))
    ys = list(range(len(rows)))[::-1]
    colours = {"better": "#54a24b", "worse": "#e45756"}
    for y, r in zip(ys, rows, strict=True):
        colour = colours.get(r["verdict"], "#888888")
        ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colour, linewidth=2)
        ax.plot([r["delta"]], [y], "o", color=colour)
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(ys, [r["metric"] for r in rows])
    ax.set_xlabel(f"B − A, with {1 - alpha:.0%} CI (green: B better, red: B worse)")
    return _png(fig)
