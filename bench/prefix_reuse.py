"""Prefix reuse in sweeps: one position sweep run cell by cell with every prompt evaluated from
scratch (`reuse_prefix: false`) and the same sweep run question by question with llama.cpp
keeping the previous call's evaluated prefix (`reuse_prefix: true`, the default). Same model,
prompt, passages and cases; response cache off on both sides; one process, one model load
(done before either side is timed). Prints the wall time of each side, their ratio, the prompt
tokens llama.cpp evaluated versus those it was given, and how many answers are identical.

    python bench/prefix_reuse.py [--questions 8] [--n-docs 5] [--model llamacpp:qwen2.5-coder-1.5b]
                                 [--out runs/bench-prefix-reuse]

The two run folders stay under --out (an interrupted bench resumes there). Needs ../shared/data
(Lost in the Middle files); prints why and exits 0 when it is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LITM = (ROOT.parent / "shared" / "data" / "lost_in_the_middle" / "qa_20docs_subset441" /
        "nq-open-20_total_documents_gold_at_0.subset441.jsonl.gz")


def _config(args, reuse: bool) -> dict:
    return {"name": f"bench-prefix-reuse-{'on' if reuse else 'off'}", "kind": "position",
            "model": args.model, "params": {"max_tokens": args.max_tokens}, "cache_mode": "off",
            "reuse_prefix": reuse, "data": {"path": str(LITM), "limit": args.questions},
            "position": {"n_docs": args.n_docs, "closed_book": False, "oracle": True}}


class _Counting:
    """Counts the prompt tokens llama.cpp really evaluates (its `eval` calls) per side."""

    def __init__(self, llm):
        self.llm, self.evaluated = llm, 0
        inner = llm.eval

        def counted(tokens):
            self.evaluated += len(tokens)
            return inner(tokens)

        llm.eval = counted


def _answers(folder: Path) -> dict[tuple[str, str], str]:
    out = {}
    for cell in sorted((folder / "cells").iterdir()):
        for line in (cell / "cases.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            out[(cell.name, rec["id"])] = rec["answer"]
    return out


def _given_tokens(folder: Path) -> int:
    total = 0
    for cell in (folder / "cells").iterdir():
        for line in (cell / "cases.jsonl").read_text(encoding="utf-8").splitlines():
            usage = (json.loads(line).get("trace") or {}).get("usage") or {}
            total += int(usage.get("prompt_tokens") or 0)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--n-docs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--model", default="llamacpp:qwen2.5-coder-1.5b")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-prefix-reuse"))
    args = parser.parse_args()
    if not LITM.is_file():
        print(f"skipped: {LITM} is absent (../shared/data holds the Lost in the Middle files)")
        return 0

    from promptkit.experiments import run_experiment
    from promptkit.llm import get_model

    out = Path(args.out)
    sides = {}
    for reuse in (False, True):
        model = get_model(args.model, cache_mode="off", reuse_prefix=reuse)
        counter = _Counting(model.llm)   # loads the model (once: the Llama object is shared)
        model.llm.reset()
        t0 = time.perf_counter()
        result = run_experiment(_config(args, reuse), out / ("on" if reuse else "off"),
                                model=model, report=False)
        sides[reuse] = {"wall_s": time.perf_counter() - t0, "evaluated": counter.evaluated,
                        "folder": result.run_dir}
        del counter.llm.eval   # the class's own method again
    off, on = sides[False], sides[True]
    given = _given_tokens(off["folder"])
    a, b = _answers(off["folder"]), _answers(on["folder"])
    same = sum(a[key] == b.get(key) for key in a)
    print(f"position sweep, {args.questions} questions x ({args.n_docs} positions + oracle), "
          f"{args.model}, max_tokens {args.max_tokens}")
    print(f"  cell by cell, no reuse : {off['wall_s']:8.1f} s   evaluated {off['evaluated']:7d} "
          f"tokens (prompts hold {given})")
    print(f"  interleaved, reuse     : {on['wall_s']:8.1f} s   evaluated {on['evaluated']:7d} "
          f"tokens")
    if off["wall_s"] and on["wall_s"]:
        print(f"  ratio (no reuse / reuse): wall {off['wall_s'] / on['wall_s']:.2f}x, "
              f"evaluated tokens {off['evaluated'] / max(on['evaluated'], 1):.2f}x")
    print(f"  identical answers: {same} of {len(a)}")
    for key in sorted(a):
        if a[key] != b.get(key):
            print(f"    differs {key}: {a[key]!r} vs {b.get(key)!r}")
    print("  (a resumed side counts only the calls made in this invocation)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
