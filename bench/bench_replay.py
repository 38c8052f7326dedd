"""Replaying a recorded eval run vs running it live, on >= 200 cases with the default model.

    python bench/bench_replay.py [--cases 200] [--max-tokens 16]

Live: the runner asks the packaged default model (in-process llama.cpp SmolLM2) every case,
with cache mode `record` (answers are stored as they come). Replay: the same config with cache
mode `replay` into a new run folder: every answer comes from the recording, no model call is
allowed (a miss would stop the run). Prints both wall times, the ratio, and checks that the
replayed answers and scores equal the live ones.
Questions: the first N NaturalQuestions-Open questions of Lost in the Middle (../shared/data),
closed-book; without that folder, the project's demo set with enough repeats to reach N.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LITM = (ROOT.parent / "shared" / "data" / "lost_in_the_middle" / "qa_data"
        / "nq-open-oracle.jsonl.gz")
DEMO = ROOT / "eval" / "datasets" / "demo-qa.jsonl"


def config(dataset: Path, n: int, repeats: int, max_tokens: int, cache_mode: str):
    from promptkit.evaluation.config import config_from_dict

    return config_from_dict({
        "name": f"bench-replay-{cache_mode}",
        "dataset": {"path": str(dataset), "limit": n},
        "pipeline": {"prompt": "closed-book@1", "mode": "closed-book", "max_tokens": max_tokens},
        "metrics": ["best_subspan_em", "token_f1"], "repeats": repeats, "seed": 0,
        "cache_mode": cache_mode})


def timed_run(cfg, run_dir: Path):
    from promptkit.evaluation.runner import run_eval

    t0 = time.perf_counter()
    result = run_eval(cfg, run_dir=run_dir)
    return time.perf_counter() - t0, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    os.environ["PROMPTKIT_HOME"] = str(work / "home")  # a fresh cache: the live run records
    if LITM.is_file():
        dataset, n, repeats = LITM, args.cases, 1
    else:
        dataset, n = DEMO, None
        repeats = math.ceil(args.cases / sum(1 for line in DEMO.open() if line.strip()))

    live_s, live = timed_run(config(dataset, n, repeats, args.max_tokens, "record"), work / "live")
    replay_s, replay = timed_run(config(dataset, n, repeats, args.max_tokens, "replay"),
                                 work / "replay")

    def key(records):
        return [(r["id"], r["repeat"], r["answer"], r["scores"]) for r in records]

    same = key(live.records) == key(replay.records)
    hits = sum(bool(r["trace"].get("cache_hit")) for r in replay.records)
    count = len(live.records)
    print(f"{count} case runs from {dataset.name}, closed-book, max_tokens {args.max_tokens}, "
          f"model {live.records[0]['trace']['model'].get('spec', '?')}")
    print(f"live (record)  : {live_s:8.2f} s  ({count / live_s:7.1f} cases/s)")
    print(f"replay         : {replay_s:8.2f} s  ({count / replay_s:7.1f} cases/s), "
          f"{hits}/{count} from the recording")
    print(f"ratio live/replay: {live_s / replay_s:.1f}x; "
          f"replayed answers and scores identical: {same}")
    for name, s in replay.summary["metrics"].items():
        print(f"  {name}: {s['mean']:.3f} (95% CI {s['ci_low']:.3f}-{s['ci_high']:.3f})")
    print(f"work folder: {work}")
    return 0 if same and hits == count else 1


if __name__ == "__main__":
    sys.exit(main())
