"""needle: a fact hidden in a haystack of unrelated text, at each context length x depth.

The haystack is any corpus (files or folders the ingest reads, or a dataset's passages). Its
sentences are counted in the target model's tokens once; every cell cuts a haystack of the
wanted length from them and puts the needle at the sentence boundary nearest the wanted depth.
Several needles give several questions per cell; `samples` varies the haystack's start.
With `mode: all` every needle is hidden in each haystack and one is asked (the others distract).
"""

from __future__ import annotations

import random
import re

from promptkit.errors import ConfigError, UserError
from promptkit.evaluation.datasets import Case
from promptkit.experiments import analysis as an
from promptkit.experiments.cells import Cell, Context, Plan
from promptkit.experiments.data import cut_to_tokens, has_answer, make_dataset

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
SOURCE = "document"


def haystack_sentences(ctx: Context) -> tuple[list[str], str]:
    """The corpus as sentences, and a hash of where it came from."""
    import hashlib

    h = ctx.cfg.needle.haystack
    texts: list[str] = []
    if h.paths:
        from promptkit.corpus.documents import SkipFile
        from promptkit.corpus.files import list_files
        from promptkit.corpus.loaders import load_file

        files = list_files([ctx.cfg.resolve_path(p) for p in h.paths])
        for f in files.files:
            try:
                texts += [d.text for d in load_file(f) if hasattr(d, "text")]
            except SkipFile:
                continue
    if h.dataset:
        from promptkit.evaluation.datasets import load_dataset

        ds = load_dataset(ctx.cfg.resolve_path(h.dataset), limit=h.limit)
        texts += list(dict.fromkeys(c["text"] for case in ds.cases for c in case.contexts or []))
    if not h.paths and not h.dataset:
        raise ConfigError("the haystack needs paths or a dataset", path=ctx.cfg.source,
                          field="needle.haystack")
    sentences = [s.strip() for t in texts for s in _SENTENCE_END.split(t) if s.strip()]
    if not sentences:
        raise UserError("the haystack has no text", hint="Check needle.haystack.paths / dataset.")
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()
    return sentences, digest


class Haystack:
    """Sentences with their token counts (each counted once), cut to lengths."""

    def __init__(self, sentences: list[str], count):
        self.sentences, self.count = sentences, count
        self._sizes: dict[str, int] = {}
        self.total = sum(self.size(s) for s in sentences)

    def size(self, sentence: str) -> int:
        if sentence not in self._sizes:
            self._sizes[sentence] = self.count(sentence)
        return self._sizes[sentence]

    def cut(self, start: int, n_tokens: int) -> list[str]:
        """Consecutive sentences from `start` (wrapping around) filling `n_tokens`.

        Whole sentences are added by their own counts; the joined text is then counted once
        and topped up with the words of the next sentence that still fit.
        """
        out, used, i, n = [], 0, start, len(self.sentences)
        while used + self.size(self.sentences[i % n]) <= n_tokens:
            out.append(self.sentences[i % n])
            used += self.size(self.sentences[i % n])
            i += 1
        rest = n_tokens - (self.count(" ".join(out)) if out else 0)
        if rest > 1:
            part = cut_to_tokens(self.sentences[i % n], rest - 1, self.count)
            if part:
                out.append(part)
        return out

    def insert_at(self, sentences: list[str], depth: float) -> int:
        """Index of the sentence boundary nearest `depth` (a fraction of the tokens)."""
        sizes = [self.size(s) for s in sentences]
        target, acc = depth * sum(sizes), 0
        for i, size in enumerate(sizes):
            if acc + size / 2 > target:
                return i
            acc += size
        return len(sentences)


def build(ctx: Context) -> Plan:
    cfg, s = ctx.cfg, ctx.cfg.needle
    sentences, digest = haystack_sentences(ctx)
    answers = [a for nd in s.needles for a in nd.answers]
    clean = [x for x in sentences if not has_answer(x, answers)]   # no accidental needles
    hay = Haystack(clean, ctx.count_tokens)
    needle_tokens = [ctx.count_tokens(nd.text) for nd in s.needles]
    rng = random.Random(cfg.seed)
    starts = [0] + [rng.randrange(len(clean)) for _ in range(s.samples - 1)]
    pipe = ctx.pipeline(cfg.prompt)
    room = min(pipe.context_budget(nd.question)[0] for nd in s.needles)
    too_long = [n for n in s.context_lengths if n > room - 8]   # 8: "[1] (document) " framing
    if too_long:
        raise ConfigError(f"context length(s) {too_long} do not fit: {cfg.model} leaves room for "
                          f"about {room - 8} tokens of haystack after the prompt and max_tokens",
                          path=cfg.source, field="needle.context_lengths",
                          hint="Use shorter lengths or a model with a larger window.")
    if hay.total < max(s.context_lengths):
        ctx.notify(f"needle: the haystack has only ~{hay.total} tokens; it is repeated to fill "
                   f"{max(s.context_lengths)}")
    cells, basis = [], ctx.basis(digest)
    for length in s.context_lengths:
        for depth in s.depths:
            cases = _cases(ctx, hay, length, depth, starts, needle_tokens)
            label = f"len-{length}-depth-{round(depth * 100):03d}"
            cells.append(Cell(label, f"{length} tokens, depth {depth:.0%}",
                              make_dataset(label, cases, "haystack", basis), cfg.prompt, cfg.prompt,
                              k=1, group="grid", meta={"length": length, "depth": depth}))
    ctx.notify(f"needle: {len(cells)} cells x {len(cells[0].dataset.cases)} cases; haystack "
               f"{len(clean)} sentences (~{hay.total} tokens)")
    return Plan(cells, {"lengths": s.context_lengths, "depths": s.depths, "mode": s.mode,
                        "needles": [nd.model_dump() for nd in s.needles], "samples": s.samples,
                        "selection_note": f"{len(s.needles)} needle(s) x {s.samples} haystack "
                                          f"sample(s) per cell; haystack ~{hay.total} tokens"},
                # Within a length, a needle deeper than the last keeps the haystack before the
                # last one's needle as a shared prefix.
                prefix_order=[c.label for c in sorted(
                    cells, key=lambda c: (c.meta["length"], c.meta["depth"]))])


def _cases(ctx: Context, hay: Haystack, length: int, depth: float, starts: list[int],
           needle_tokens: list[int]) -> list[Case]:
    s = ctx.cfg.needle
    hidden = sum(needle_tokens) if s.mode == "all" else 0
    out = []
    for sample, start in enumerate(starts):
        for i, nd in enumerate(s.needles):
            budget = length - (hidden if s.mode == "all" else needle_tokens[i])
            text = _haystack_text(ctx, hay, hay.cut(start, max(budget, 0)), depth, i, sample)
            out.append(Case(id=f"needle{i}-sample{sample}", question=nd.question,
                            answers=list(nd.answers),
                            contexts=[{"id": f"haystack-{length}-{depth}-{sample}-{i}",
                                       "source": SOURCE, "text": text}],
                            metadata={"length": length, "depth": depth, "needle": i,
                                      "sample": sample}))
            if ctx.limit is not None and len(out) >= ctx.limit:
                return out
    return out


def _haystack_text(ctx: Context, hay: Haystack, sentences: list[str], depth: float,
                   target: int, sample: int) -> str:
    s = ctx.cfg.needle
    sentences = list(sentences)
    if s.mode == "all":   # the other needles at seeded places, so they distract but do not move
        rng = random.Random(f"{ctx.cfg.seed}-{sample}-{target}")
        for j, nd in enumerate(s.needles):
            if j != target:
                sentences.insert(rng.randrange(len(sentences) + 1), nd.text)
    sentences.insert(hay.insert_at(sentences, depth), s.needles[target].text)
    return " ".join(sentences)


# ---------------------------------------------------------------- analysis

def _actual_depth(run, needles: list[dict]) -> float | None:
    """Mean share of the haystack (in characters) before the asked needle, over the cell's cases.

    Needles go to sentence boundaries, so in a short haystack several depths can land on the
    same place; this says where they really were.
    """
    if run.run is None:
        return None
    by_question = {nd["question"]: nd["text"] for nd in needles}
    where = []
    for rec in run.run.records:
        text = (rec.get("contexts") or [{}])[0].get("text", "")
        needle = by_question.get(rec.get("question"))
        if needle and needle in text and len(text) > len(needle):
            where.append(text.index(needle) / (len(text) - len(needle)))
    return sum(where) / len(where) if where else None


def contrasts(cfg, cells: list[dict]) -> list[tuple[str, str]]:
    """None: the grid is read as a heat map, cell by cell, not as paired tests."""
    return []


def analyse(cfg, runs, info: dict) -> dict:
    metric = cfg.primary_metric
    grid = []
    for r in runs:
        row = an.estimate(r, metric)
        row.update(length=r.cell["meta"]["length"], depth=r.cell["meta"]["depth"],
                   actual_depth=_actual_depth(r, info.get("needles", [])))
        grid.append(row)
    lengths, depths = info.get("lengths", []), info.get("depths", [])
    by_length = {str(n): _mean([g["mean"] for g in grid if g["length"] == n]) for n in lengths}
    by_depth = {str(d): _mean([g["mean"] for g in grid if g["depth"] == d]) for d in depths}
    return {"metric": metric, "grid": grid, "lengths": lengths, "depths": depths,
            "by_length": by_length, "by_depth": by_depth, "findings": _findings(grid, by_length)}


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _findings(grid, by_length) -> list[str]:
    done = [g for g in grid if g["mean"] is not None]
    if not done:
        return []
    overall = _mean([g["mean"] for g in done])
    worst = min(done, key=lambda g: g["mean"])
    out = [f"Mean retrieval of the needle over the grid: {overall:.3f}; weakest cell: "
           f"{worst['length']} tokens at depth {worst['depth']:.0%} ({worst['mean']:.3f})."]
    parts = [f"{n} tokens {v:.2f}" for n, v in by_length.items() if v is not None]
    if parts:
        out.append("By context length: " + ", ".join(parts) + ".")
    return out


def plot(summary: dict, path) -> None:
    from promptkit.experiments.report import save, subplots

    a = summary["analysis"]
    lengths, depths = a["lengths"], a["depths"]
    value = {(g["length"], g["depth"]): g["mean"] for g in a["grid"]}
    matrix = [[value.get((n, d)) for n in lengths] for d in depths]
    import numpy as np

    data = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    fig, ax = subplots(figsize=(1.2 * len(lengths) + 2.5, 0.55 * len(depths) + 1.8))
    im = ax.imshow(data, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i in range(len(depths)):
        for j in range(len(lengths)):
            if not np.isnan(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(lengths)), [str(n) for n in lengths])
    ax.set_yticks(range(len(depths)), [f"{d:.0%}" for d in depths])
    ax.set_xlabel("context length (model tokens)")
    ax.set_ylabel("needle depth")
    ax.set_title(f"Needle in a haystack — {summary['model']}", fontsize=10)
    fig.colorbar(im, ax=ax, label=a["metric"])
    save(fig, path)


def markdown(summary: dict) -> str:
    a = summary["analysis"]
    value = {(g["length"], g["depth"]): g for g in a["grid"]}
    lines = [f"{a['metric']} per cell (rows: needle depth; columns: context length in tokens)", "",
             "| depth | " + " | ".join(str(n) for n in a["lengths"]) + " | mean |",
             "|---|" + "---|" * (len(a["lengths"]) + 1)]
    for d in a["depths"]:
        cells = [an.fmt(value.get((n, d), {}).get("mean"), 2) for n in a["lengths"]]
        mean = an.fmt(a["by_depth"].get(str(d)), 2)
        lines.append(f"| {d:.0%} | " + " | ".join(cells) + f" | {mean} |")
    means = [an.fmt(a["by_length"].get(str(n)), 2) for n in a["lengths"]]
    lines.append("| mean | " + " | ".join(means) + " | |")
    lines += ["", "Where the needle really sat (share of the haystack before it; needles go to "
              "the nearest sentence boundary, so short haystacks quantise the depth):", "",
              "| depth | " + " | ".join(str(n) for n in a["lengths"]) + " |",
              "|---|" + "---|" * len(a["lengths"])]
    for d in a["depths"]:
        where = [value.get((n, d), {}).get("actual_depth") for n in a["lengths"]]
        lines.append(f"| {d:.0%} | " + " | ".join("–" if w is None else f"{w:.0%}" for w in where)
                     + " |")
    return "\n".join(lines)
