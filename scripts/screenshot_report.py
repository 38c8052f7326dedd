"""Take the picture of the HTML report that the docs show, in headless Chromium.

    python scripts/screenshot_report.py RUN_A [RUN_B] [-o docs/assets/report.png]

Writes the report of RUN_A (compared with RUN_B when given) as one HTML page with
`promptkit eval report --html`, loads it in headless Chromium (Debian: apt-get install chromium)
and saves the top of the page as a PNG. The runs are any two run folders, e.g. the same config
with two prompt versions or two models.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no headless Chromium found (Debian: apt-get install chromium)")


def screenshot(page: Path, out: Path, width: int, height: int, profile: Path) -> None:
    cmd = [find_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--disable-background-networking", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", f"--window-size={width},{height}",
           f"--screenshot={out}", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode or not out.is_file():
        sys.exit(f"chromium failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_a")
    ap.add_argument("run_b", nargs="?")
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "assets" / "report.png"))
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=1500)
    args = ap.parse_args()

    from promptkit.evaluation.api import report

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        report(args.run_a, compare_to=args.run_b, html=page)
        screenshot(page, out, args.width, args.height, Path(tmp) / "profile")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
