"""A full position sweep (one `promptkit experiment run`) against the same cases run the way one
would without it: N separate `promptkit eval run` invocations, one per gold position, each on a
prepared JSONL file. Same model, prompt, passages and cache setting (off) on both sides; each
side runs as fresh processes, so imports and model loads are counted where they happen.
Then the sweep again on a warm response cache (a second folder, same settings): what repeating
or extending a sweep costs.

    python bench/bench_position.py [--questions 4] [--n-docs 5] [--model llamacpp:smollm2-135m]

Needs ../shared/data (Lost in the Middle files); prints why and exits 0 when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LITM = (ROOT.parent / "shared" / "data" / "lost_in_the_middle" / "qa_20docs_subset441" /
        "nq-open-20_total_documents_gold_at_0.subset441.jsonl.gz")
PROMPTKIT = [sys.executable, "-m", "promptkit"]


def _run(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _experiment(args, cache_mode: str) -> dict:
    return {"name": "bench-position", "kind": "position", "model": args.model,
            "params": {"max_tokens": args.max_tokens}, "cache_mode": cache_mode,
            "data": {"path": str(LITM), "limit": args.questions, "passage_tokens": 48},
            "position": {"n_docs": args.n_docs, "closed_book": False, "oracle": False}}


def _prepare_baseline(args, tmp: Path) -> list[Path]:
    """One JSONL dataset and one eval config per position, holding the sweep's exact cases."""
    import yaml

    from promptkit.experiments.cells import Context
    from promptkit.experiments.config import experiment_from_dict
    from promptkit.experiments.position import build

    cfg = experiment_from_dict(_experiment(args, "off"))
    plan = build(Context(cfg, tmp / "plan", limit=args.questions))
    configs = []
    for cell in plan.cells:
        data = tmp / f"{cell.label}.jsonl"
        data.write_text("".join(json.dumps({"id": c.id, "question": c.question,
                                            "answers": c.answers, "gold_ids": c.gold_ids,
                                            "contexts": c.contexts}) + "\n"
                                for c in cell.dataset.cases), encoding="utf-8")
        config = tmp / f"{cell.label}.yaml"
        config.write_text(yaml.safe_dump({
            "name": f"bench-{cell.label}", "dataset": {"path": str(data)},
            "pipeline": {"prompt": cfg.prompt, "model": args.model, "mode": "oracle",
                         "k": args.n_docs, "max_tokens": args.max_tokens},
            "metrics": ["best_subspan_em"], "cache_mode": "off"}), encoding="utf-8")
        configs.append(config)
    return configs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=4)
    ap.add_argument("--n-docs", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--model", default="llamacpp:smollm2-135m")
    args = ap.parse_args()
    if not LITM.is_file():
        print(f"skipped: Lost in the Middle data not found at {LITM}")
        return 0
    import yaml

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "PROMPTKIT_HOME": str(tmp / "home"),
               "PROMPTKIT_RUNS_DIR": str(tmp / "runs")}
        configs = _prepare_baseline(args, tmp)
        calls = args.questions * args.n_docs

        baseline = sum(_run([*PROMPTKIT, "eval", "run", str(c), "--run-dir",
                             str(tmp / "base" / c.stem)], env) for c in configs)

        cold = tmp / "sweep-off.yaml"
        cold.write_text(yaml.safe_dump(_experiment(args, "off")), encoding="utf-8")
        sweep = _run([*PROMPTKIT, "experiment", "run", str(cold), "--run-dir", str(tmp / "s1"),
                      "-q"], env)

        warm = tmp / "sweep-rw.yaml"
        warm.write_text(yaml.safe_dump(_experiment(args, "read-write")), encoding="utf-8")
        fill = _run([*PROMPTKIT, "experiment", "run", str(warm), "--run-dir", str(tmp / "s2"),
                     "-q"], env)
        cached = _run([*PROMPTKIT, "experiment", "run", str(warm), "--run-dir", str(tmp / "s3"),
                       "-q"], env)

    print(f"position sweep: {args.questions} questions x {args.n_docs} positions = {calls} "
          f"model calls, {args.model}, max_tokens {args.max_tokens}")
    print(f"  {len(configs)} x `promptkit eval run` (baseline):  {baseline:7.1f} s")
    print(f"  1 x `promptkit experiment run` (sweep):  {sweep:7.1f} s   "
          f"ratio sweep/baseline {sweep / baseline:.2f}")
    print(f"  sweep filling the response cache:        {fill:7.1f} s")
    print(f"  sweep again on the warm cache:            {cached:7.1f} s   "
          f"ratio warm/cold {cached / sweep:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
