"""Answers worth reading: the figures for one or more finished eval runs of the demo QA set.

    python bench/answer_quality.py RUN_DIR [RUN_DIR ...] [--dataset eval/datasets/demo-qa.jsonl]

For each run: contains_any and token_f1_multi overall and per language, answers with a
degenerate loop (a word 4-gram occurring 3 or more times), answers with at least one source
(cited or attributed), and among correct answers the share whose first source is a gold
document. Reads runs/<id>/cases.jsonl and manifest.json only: no model is loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from promptkit.evaluation.metrics_answer import repeated_ngram  # noqa: E402


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _score(case: dict, name: str) -> float | None:
    s = (case.get("scores") or {}).get(name) or {}
    return s.get("value") if s.get("outcome", "ok") == "ok" else None


def _first_gold(case: dict, gold: list[str]) -> bool:
    cites = case.get("citations") or []
    return bool(cites) and Path(str(cites[0].get("source", ""))).name in gold


def summarise(run: Path, meta: dict) -> dict:
    cases = [json.loads(line) for line in (run / "cases.jsonl").read_text().splitlines()
             if line.strip()]
    manifest = json.loads((run / "manifest.json").read_text())
    out = {"run": run.name, "model": manifest.get("model"), "prompt": manifest.get("prompt_ref"),
           "cases": len(cases)}
    for lang in ("all", "en", "es"):
        sel = [c for c in cases if lang == "all" or meta[c["id"]]["language"] == lang]
        out[f"contains_any[{lang}]"] = _mean(_score(c, "contains_any") for c in sel)
        out[f"token_f1_multi[{lang}]"] = _mean(_score(c, "token_f1_multi") for c in sel)
        out[f"n[{lang}]"] = len(sel)
    out["looping answers"] = sum(repeated_ngram(c.get("answer") or "") is not None
                                 for c in cases)
    out["sourced"] = _mean(float(bool(c.get("citations"))) for c in cases)
    out["cited ([n])"] = _mean(float(any(x.get("kind", "cited") == "cited"
                                         for x in c.get("citations") or [])) for c in cases)
    correct = [c for c in cases if _score(c, "contains_any") == 1.0]
    out["first source gold | correct"] = _mean(
        float(_first_gold(c, meta[c["id"]]["gold_docs"])) for c in correct)
    out["latency p50 s"] = sorted(_score(c, "latency") or 0 for c in cases)[len(cases) // 2]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--dataset", type=Path, default=ROOT / "eval/datasets/demo-qa.jsonl")
    args = ap.parse_args()
    meta = {}
    for line in args.dataset.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            meta[rec["id"]] = {"language": rec.get("language", "?"),
                               "gold_docs": rec.get("gold_docs", [])}
    rows = [summarise(run, meta) for run in args.runs]
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    for key in keys:
        cells = []
        for row in rows:
            v = row.get(key)
            cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
        print(f"{key:<{width}}  " + "  ".join(f"{c:>28}" for c in cells))


if __name__ == "__main__":
    main()
