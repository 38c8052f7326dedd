"""The HTML report: self-contained, escaped, and its charts really render in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from promptkit.evaluation.api import report
from promptkit.evaluation.config import config_from_dict
from promptkit.evaluation.runner import run_eval
from tests.test_eval_runner import ScriptedPipeline, write_dataset

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture
def runs(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 12)
    out = []
    for label, replies in (("a", {}), ("b", {"q1": HOSTILE, "q2": "nothing"})):
        cfg = config_from_dict({"name": label, "dataset": {"path": str(ds)},
                                "metrics": ["exact_match", "token_f1", "hit@1", "latency"]})
        out.append(run_eval(cfg, run_dir=tmp_path / label, pipeline=ScriptedPipeline(replies)))
    return out


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) or f"/usr/bin/{name}"
        if Path(path).exists():
            return path
    pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")


def test_html_is_self_contained_and_escapes_run_content(runs, tmp_path):
    a, b = runs
    page_path = tmp_path / "report.html"
    report(a.run_dir, compare_to=b.run_dir, html=page_path)
    page = page_path.read_text(encoding="utf-8")
    # No external fetches: every src/href is a data URI (or an in-page anchor).
    assert not re.findall(r'(?:src|href)="(?!data:|#)', page)
    assert "<link" not in page and "@import" not in page
    # The hostile answer shows as text, never as markup.
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # only the page's own render check
    assert page.count("<details>") == 12 and "Answer (B)" in page and "text of d1" in page


def _render(chromium: str, page: Path, tmp_path: Path) -> tuple[int, int, str]:
    """Load the page in headless Chromium; (charts rendered, charts, final DOM)."""
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    marker = re.search(r'data-charts-rendered="(\d+)/(\d+)"', proc.stdout)
    assert marker, "the page's load script did not run"
    return int(marker.group(1)), int(marker.group(2)), proc.stdout


@pytest.mark.slow
def test_charts_render_in_headless_chromium(runs, tmp_path):
    chromium = _chromium()
    a, b = runs
    page = tmp_path / "report.html"
    report(a.run_dir, compare_to=b.run_dir, html=page)
    rendered, total, dom = _render(chromium, page, tmp_path)
    assert total >= 3 and rendered == total
    assert '<p class="warn">this chart failed' not in dom
    # The hostile answer stayed inert after the browser parsed the page.
    assert "<b>bold</b>" not in dom and "&lt;b&gt;bold&lt;/b&gt;" in dom

    # The check can fail: a chart whose data does not decode is counted and flagged.
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,AAAA", page.read_text(), count=1))
    rendered, total, dom = _render(chromium, broken, tmp_path)
    assert rendered == total - 1 and '<p class="warn">this chart failed to render</p>' in dom
