"""CLI start-up: `promptkit prompts list` against the bare interpreter (`python -c pass`).

    python bench/bench_startup.py [--repeats N]

Both run as fresh processes, interleaved so machine noise hits them alike; medians are
reported. The ratio says how many interpreter start-ups one CLI call costs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def promptkit_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m promptkit`."""
    script = Path(sys.executable).parent / "promptkit"
    if script.exists():
        return [str(script)]
    found = shutil.which("promptkit")
    return [found] if found else [sys.executable, "-m", "promptkit"]


def wall_time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "promptkit --help": [*promptkit_command(), "--help"],
        "promptkit prompts list": [*promptkit_command(), "prompts", "list"],
    }
    for cmd in cases.values():   # warm the file cache; not timed
        wall_time(cmd)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, cmd in cases.items():
            times[name].append(wall_time(cmd))

    base = statistics.median(times["python -c pass (baseline)"])
    print(f"command: {' '.join(promptkit_command())}; {args.repeats} runs each, median wall time")
    print(f"{'case':32} {'median s':>9} {'min s':>7} {'x baseline':>10}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:32} {med:9.3f} {min(values):7.3f} {med / base:10.1f}")
    ratio = statistics.median(times["promptkit prompts list"]) / base
    print(f"ratio promptkit prompts list / python -c pass: {ratio:.1f}")


if __name__ == "__main__":
    main()
