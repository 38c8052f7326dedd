"""Run every bench/bench_*.py (or those whose name contains PATTERN) and print their output.

    python bench/run_all.py [PATTERN]

Each benchmark measures promptkit and its baseline in the same run and prints the ratio;
this script only runs them one after another (never in parallel: they time things).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    pattern = argv[0] if argv else ""
    scripts = sorted(p for p in BENCH_DIR.glob("bench_*.py") if pattern in p.stem)
    if not scripts:
        print(f"no bench/bench_*.py matches '{pattern}'", file=sys.stderr)
        return 2
    failed = []
    for script in scripts:
        print(f"=== {script.name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent, check=False)
        print(f"=== {script.name}: exit {proc.returncode} in {time.perf_counter() - start:.1f} s\n",
              flush=True)
        if proc.returncode != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
